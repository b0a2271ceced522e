# profile ru-2025-mobile-whitelist: run in the censor node (testbed exec censor -- sh)
# uplink on out0
tc qdisc replace dev out0 root handle 1: htb default 2
tc class replace dev out0 parent 1: classid 1:1 htb rate 10gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev out0 parent 1:1 classid 1:2 htb rate 5gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev out0 parent 1:1 classid 1:10 htb rate 5gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev out0 parent 1: classid 1:3 htb rate 10gbit ceil 10gbit burst 1251600b cburst 1251600b
tc qdisc replace dev out0 parent 1:2 handle 2: pfifo limit 1000
tc qdisc replace dev out0 parent 1:10 handle 10: pfifo limit 1000
tc qdisc replace dev out0 parent 1:3 handle 3: pfifo limit 1000
# downlink on in0
tc qdisc replace dev in0 root handle 1: htb default 2
tc class replace dev in0 parent 1: classid 1:1 htb rate 10gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev in0 parent 1:1 classid 1:2 htb rate 5gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev in0 parent 1:1 classid 1:10 htb rate 5gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev in0 parent 1: classid 1:3 htb rate 10gbit ceil 10gbit burst 1251600b cburst 1251600b
tc qdisc replace dev in0 parent 1:2 handle 2: pfifo limit 1000
tc qdisc replace dev in0 parent 1:10 handle 10: pfifo limit 1000
tc qdisc replace dev in0 parent 1:3 handle 3: pfifo limit 1000
# classification (nftables, loaded atomically)
nft -f - <<'EOF'
table inet testbed
delete table inet testbed
table inet testbed {
	comment "testbed plan ef1bf3dce5954cc0"
	counter whitelist.up { }
	counter whitelist.down { }
	counter default.up { }
	counter default.up.dropped { }
	counter default.down { }
	counter default.down.dropped { }
	set allowed_v4 {
		type ipv4_addr
		flags interval
		auto-merge
		elements = {
			5.255.192.0/18,
			77.88.0.0/18,
			87.250.224.0/19,
			213.180.192.0/19,
			87.240.128.0/18,
			93.186.224.0/20,
			95.142.192.0/20,
		}
	}
	chain forward {
		type filter hook forward priority 0; policy accept;
		iifname "in0" oifname "out0" jump uplink
		iifname "out0" oifname "in0" jump downlink
		iifname "out0" oifname "out0" meta priority set 1:3 comment "between hosts abroad: no border crossed"
		iifname "in0" oifname "in0" meta priority set 1:3 comment "between hosts inside: no border crossed"
	}
	chain uplink {
		ip daddr @allowed_v4 meta priority set 1:10 counter name "whitelist.up" accept comment "whitelist"
		ip saddr @allowed_v4 meta priority set 1:10 counter name "whitelist.up" accept comment "whitelist"
		counter name "default.up" counter name "default.up.dropped" drop comment "default"
	}
	chain downlink {
		ip daddr @allowed_v4 meta priority set 1:10 counter name "whitelist.down" accept comment "whitelist"
		ip saddr @allowed_v4 meta priority set 1:10 counter name "whitelist.down" accept comment "whitelist"
		counter name "default.down" counter name "default.down.dropped" drop comment "default"
	}
}
EOF
