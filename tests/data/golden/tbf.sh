# profile tbf: run in the censor node (testbed exec censor -- sh)
# uplink on out0
tc qdisc replace dev out0 root handle 1: htb default 2
tc class replace dev out0 parent 1: classid 1:1 htb rate 10gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev out0 parent 1:1 classid 1:2 htb rate 5gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev out0 parent 1:1 classid 1:10 htb rate 5gbit ceil 10gbit burst 8192b cburst 8192b
tc qdisc replace dev out0 parent 1:2 handle 2: pfifo limit 1000
tc qdisc replace dev out0 parent 1:10 handle 10: tbf rate 512kbit burst 8192b latency 20ms
# downlink on in0
tc qdisc replace dev in0 root handle 1: htb default 2
tc class replace dev in0 parent 1: classid 1:1 htb rate 10gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev in0 parent 1:1 classid 1:2 htb rate 5gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev in0 parent 1:1 classid 1:10 htb rate 5gbit ceil 10gbit burst 8192b cburst 8192b
tc qdisc replace dev in0 parent 1:2 handle 2: pfifo limit 1000
tc qdisc replace dev in0 parent 1:10 handle 10: tbf rate 512kbit burst 8192b latency 20ms
# classification (nftables, loaded atomically)
nft -f - <<'EOF'
table inet testbed
delete table inet testbed
table inet testbed {
	comment "testbed plan 7efd269a11565257"
	chain forward {
		type filter hook forward priority 0; policy accept;
		oifname "out0" jump uplink
		oifname "in0" jump downlink
	}
	chain uplink {
		tcp dport 8080 meta priority set 1:10 accept comment "bucket"
		meta l4proto tcp reject with tcp reset comment "default"
		reject with icmpx port-unreachable comment "default"
	}
	chain downlink {
		tcp dport 8080 meta priority set 1:10 accept comment "bucket"
		meta l4proto tcp reject with tcp reset comment "default"
		reject with icmpx port-unreachable comment "default"
	}
}
EOF
