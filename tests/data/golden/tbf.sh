# profile tbf: run in the censor node (testbed exec censor -- sh)
# uplink on out0
tc qdisc replace dev out0 root handle 1: htb default 2
tc class replace dev out0 parent 1: classid 1:1 htb rate 10gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev out0 parent 1:1 classid 1:2 htb rate 5gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev out0 parent 1:1 classid 1:10 htb rate 5gbit ceil 10gbit burst 8192b cburst 8192b
tc class replace dev out0 parent 1: classid 1:3 htb rate 10gbit ceil 10gbit burst 1251600b cburst 1251600b
tc qdisc replace dev out0 parent 1:2 handle 2: pfifo limit 1000
tc qdisc replace dev out0 parent 1:10 handle 10: tbf rate 512kbit burst 8192b latency 20ms
tc qdisc replace dev out0 parent 1:3 handle 3: pfifo limit 1000
# downlink on in0
tc qdisc replace dev in0 root handle 1: htb default 2
tc class replace dev in0 parent 1: classid 1:1 htb rate 10gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev in0 parent 1:1 classid 1:2 htb rate 5gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev in0 parent 1:1 classid 1:10 htb rate 5gbit ceil 10gbit burst 8192b cburst 8192b
tc class replace dev in0 parent 1: classid 1:3 htb rate 10gbit ceil 10gbit burst 1251600b cburst 1251600b
tc qdisc replace dev in0 parent 1:2 handle 2: pfifo limit 1000
tc qdisc replace dev in0 parent 1:10 handle 10: tbf rate 512kbit burst 8192b latency 20ms
tc qdisc replace dev in0 parent 1:3 handle 3: pfifo limit 1000
# classification (nftables, loaded atomically)
nft -f - <<'EOF'
table inet testbed
delete table inet testbed
table inet testbed {
	comment "testbed plan 93c6501c0e6c415e"
	counter bucket.up { }
	counter bucket.down { }
	counter default.up { }
	counter default.up.dropped { }
	counter default.down { }
	counter default.down.dropped { }
	chain forward {
		type filter hook forward priority 0; policy accept;
		iifname "in0" oifname "out0" jump uplink
		iifname "out0" oifname "in0" jump downlink
		iifname "out0" oifname "out0" meta priority set 1:3 comment "between hosts abroad: no border crossed"
		iifname "in0" oifname "in0" meta priority set 1:3 comment "between hosts inside: no border crossed"
	}
	chain uplink {
		tcp dport 8080 meta priority set 1:10 counter name "bucket.up" accept comment "bucket"
		meta l4proto tcp counter name "default.up" counter name "default.up.dropped" reject with tcp reset comment "default"
		counter name "default.up" counter name "default.up.dropped" reject with icmpx port-unreachable comment "default"
	}
	chain downlink {
		tcp dport 8080 meta priority set 1:10 counter name "bucket.down" accept comment "bucket"
		meta l4proto tcp counter name "default.down" counter name "default.down.dropped" reject with tcp reset comment "default"
		counter name "default.down" counter name "default.down.dropped" reject with icmpx port-unreachable comment "default"
	}
}
EOF
