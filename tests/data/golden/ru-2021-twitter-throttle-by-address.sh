# profile ru-2021-twitter-throttle-by-address: run in the censor node (testbed exec censor -- sh)
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
	comment "testbed plan cfc019c946116653"
	counter twitter.up { }
	counter twitter.up.dropped { }
	counter twitter.down { }
	counter twitter.down.dropped { }
	counter default.up { }
	counter default.down { }
	set twitter_v4 {
		type ipv4_addr
		flags interval
		auto-merge
		elements = {
			104.244.40.0/21,
			192.133.76.0/22,
			199.16.156.0/22,
			199.59.148.0/22,
			199.96.56.0/21,
			69.195.160.0/19,
		}
	}
	set pol_twitter_up_v4 {
		type ipv4_addr . ipv4_addr . inet_proto . inet_service . inet_service
		flags dynamic,timeout
		timeout 600s
	}
	set pol_twitter_down_v4 {
		type ipv4_addr . ipv4_addr . inet_proto . inet_service . inet_service
		flags dynamic,timeout
		timeout 600s
	}
	chain forward {
		type filter hook forward priority 0; policy accept;
		iifname "in0" oifname "out0" jump uplink
		iifname "out0" oifname "in0" jump downlink
		iifname "out0" oifname "out0" meta priority set 1:3 comment "between hosts abroad: no border crossed"
		iifname "in0" oifname "in0" meta priority set 1:3 comment "between hosts inside: no border crossed"
	}
	chain uplink {
		ip daddr @twitter_v4 tcp dport 443 meta l4proto { tcp, udp } update @pol_twitter_up_v4 { ip saddr . ip daddr . meta l4proto . th sport . th dport limit rate over 18750 bytes/second burst 16384 bytes } counter name "twitter.up" counter name "twitter.up.dropped" drop comment "twitter"
		ip daddr @twitter_v4 tcp dport 443 meta priority set 1:10 counter name "twitter.up" accept comment "twitter"
		ip saddr @twitter_v4 tcp sport 443 meta l4proto { tcp, udp } update @pol_twitter_up_v4 { ip saddr . ip daddr . meta l4proto . th sport . th dport limit rate over 18750 bytes/second burst 16384 bytes } counter name "twitter.up" counter name "twitter.up.dropped" drop comment "twitter"
		ip saddr @twitter_v4 tcp sport 443 meta priority set 1:10 counter name "twitter.up" accept comment "twitter"
		meta priority set 1:2 counter name "default.up" comment "default"
	}
	chain downlink {
		ip daddr @twitter_v4 tcp dport 443 meta l4proto { tcp, udp } update @pol_twitter_down_v4 { ip saddr . ip daddr . meta l4proto . th sport . th dport limit rate over 18750 bytes/second burst 16384 bytes } counter name "twitter.down" counter name "twitter.down.dropped" drop comment "twitter"
		ip daddr @twitter_v4 tcp dport 443 meta priority set 1:10 counter name "twitter.down" accept comment "twitter"
		ip saddr @twitter_v4 tcp sport 443 meta l4proto { tcp, udp } update @pol_twitter_down_v4 { ip saddr . ip daddr . meta l4proto . th sport . th dport limit rate over 18750 bytes/second burst 16384 bytes } counter name "twitter.down" counter name "twitter.down.dropped" drop comment "twitter"
		ip saddr @twitter_v4 tcp sport 443 meta priority set 1:10 counter name "twitter.down" accept comment "twitter"
		meta priority set 1:2 counter name "default.down" comment "default"
	}
}
EOF
