# profile ru-tspu-quic-block: run in the censor node (testbed exec censor -- sh)
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
	comment "testbed plan dece1bc167c58efe"
	counter quic-v1-initial.up { }
	counter quic-v1-initial.up.dropped { }
	counter quic-v1-initial.down { }
	counter quic-v1-initial.down.dropped { }
	counter default.up { }
	counter default.down { }
	set res_quic_v1_initial_up_v4 {
		type ipv4_addr . ipv4_addr . inet_proto . inet_service
		flags timeout
		timeout 420s
	}
	set res_quic_v1_initial_up_v6 {
		type ipv6_addr . ipv6_addr . inet_proto . inet_service
		flags timeout
		timeout 420s
	}
	chain forward {
		type filter hook forward priority 0; policy accept;
		iifname "in0" oifname "out0" jump uplink
		iifname "out0" oifname "in0" jump downlink
		iifname "out0" oifname "out0" meta priority set 1:3 comment "between hosts abroad: no border crossed"
		iifname "in0" oifname "in0" meta priority set 1:3 comment "between hosts inside: no border crossed"
	}
	chain uplink {
		meta l4proto { tcp, udp } ip saddr . ip daddr . meta l4proto . th dport @res_quic_v1_initial_up_v4 counter name "quic-v1-initial.up" counter name "quic-v1-initial.up.dropped" drop comment "quic-v1-initial: residual block"
		meta l4proto { tcp, udp } ip6 saddr . ip6 daddr . meta l4proto . th dport @res_quic_v1_initial_up_v6 counter name "quic-v1-initial.up" counter name "quic-v1-initial.up.dropped" drop comment "quic-v1-initial: residual block"
		udp dport 443 udp length >= 1009 @ih,8,32 0x00000001 meta nfproto ipv4 meta l4proto { tcp, udp } update @res_quic_v1_initial_up_v4 { ip saddr . ip daddr . meta l4proto . th dport } counter name "quic-v1-initial.up" counter name "quic-v1-initial.up.dropped" drop comment "quic-v1-initial"
		udp dport 443 udp length >= 1009 @ih,8,32 0x00000001 meta nfproto ipv6 meta l4proto { tcp, udp } update @res_quic_v1_initial_up_v6 { ip6 saddr . ip6 daddr . meta l4proto . th dport } counter name "quic-v1-initial.up" counter name "quic-v1-initial.up.dropped" drop comment "quic-v1-initial"
		meta priority set 1:2 counter name "default.up" comment "default"
	}
	chain downlink {
		meta l4proto { tcp, udp } ip daddr . ip saddr . meta l4proto . th sport @res_quic_v1_initial_up_v4 counter name "quic-v1-initial.down" counter name "quic-v1-initial.down.dropped" drop comment "quic-v1-initial: residual block"
		meta l4proto { tcp, udp } ip6 daddr . ip6 saddr . meta l4proto . th sport @res_quic_v1_initial_up_v6 counter name "quic-v1-initial.down" counter name "quic-v1-initial.down.dropped" drop comment "quic-v1-initial: residual block"
		udp dport 443 udp length >= 1009 @ih,8,32 0x00000001 meta priority set 1:10 counter name "quic-v1-initial.down" accept comment "quic-v1-initial"
		meta priority set 1:2 counter name "default.down" comment "default"
	}
}
EOF
