# profile lossy-wifi: run in the censor node (testbed exec censor -- sh)
# uplink on out0
tc qdisc replace dev out0 root handle 1: htb default 2
tc class replace dev out0 parent 1: classid 1:1 htb rate 10gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev out0 parent 1:1 classid 1:2 htb rate 10gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev out0 parent 1: classid 1:3 htb rate 10gbit ceil 10gbit burst 1251600b cburst 1251600b
tc qdisc replace dev out0 parent 1:2 handle 2: netem limit 1000 delay 1ms loss gemodel 0.5% 25% 100% 0% rate 15mbit slot 800us 10ms packets 42 bytes 65536
tc qdisc replace dev out0 parent 1:3 handle 3: pfifo limit 1000
# downlink on in0
tc qdisc replace dev in0 root handle 1: htb default 2
tc class replace dev in0 parent 1: classid 1:1 htb rate 10gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev in0 parent 1:1 classid 1:2 htb rate 10gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev in0 parent 1: classid 1:3 htb rate 10gbit ceil 10gbit burst 1251600b cburst 1251600b
tc qdisc replace dev in0 parent 1:2 handle 2: netem limit 1000 delay 1ms loss gemodel 0.5% 25% 100% 0% rate 30mbit slot 800us 10ms packets 42 bytes 65536
tc qdisc replace dev in0 parent 1:3 handle 3: pfifo limit 1000
# classification (nftables, loaded atomically)
nft -f - <<'EOF'
table inet testbed
delete table inet testbed
table inet testbed {
	comment "testbed plan 875b5028d0096ad0"
	counter default.up { }
	counter default.down { }
	chain forward {
		type filter hook forward priority 0; policy accept;
		iifname "in0" oifname "out0" jump uplink
		iifname "out0" oifname "in0" jump downlink
		iifname "out0" oifname "out0" meta priority set 1:3 comment "between hosts abroad: no border crossed"
		iifname "in0" oifname "in0" meta priority set 1:3 comment "between hosts inside: no border crossed"
	}
	chain uplink {
		meta priority set 1:2 counter name "default.up" comment "default"
	}
	chain downlink {
		meta priority set 1:2 counter name "default.down" comment "default"
	}
}
EOF
