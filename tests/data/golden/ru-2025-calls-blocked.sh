# profile ru-2025-calls-blocked: run in the censor node (testbed exec censor -- sh)
# uplink on out0
tc qdisc replace dev out0 root handle 1: htb default 2
tc class replace dev out0 parent 1: classid 1:1 htb rate 10gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev out0 parent 1:1 classid 1:2 htb rate 2gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev out0 parent 1:1 classid 1:10 htb rate 2gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev out0 parent 1:1 classid 1:11 htb rate 2gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev out0 parent 1:1 classid 1:12 htb rate 2gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev out0 parent 1:1 classid 1:13 htb rate 2gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev out0 parent 1: classid 1:3 htb rate 10gbit ceil 10gbit burst 1251600b cburst 1251600b
tc qdisc replace dev out0 parent 1:2 handle 2: pfifo limit 1000
tc qdisc replace dev out0 parent 1:10 handle 10: pfifo limit 1000
tc qdisc replace dev out0 parent 1:11 handle 11: pfifo limit 1000
tc qdisc replace dev out0 parent 1:12 handle 12: pfifo limit 1000
tc qdisc replace dev out0 parent 1:13 handle 13: pfifo limit 1000
tc qdisc replace dev out0 parent 1:3 handle 3: pfifo limit 1000
# downlink on in0
tc qdisc replace dev in0 root handle 1: htb default 2
tc class replace dev in0 parent 1: classid 1:1 htb rate 10gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev in0 parent 1:1 classid 1:2 htb rate 2gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev in0 parent 1:1 classid 1:10 htb rate 2gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev in0 parent 1:1 classid 1:11 htb rate 2gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev in0 parent 1:1 classid 1:12 htb rate 2gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev in0 parent 1:1 classid 1:13 htb rate 2gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev in0 parent 1: classid 1:3 htb rate 10gbit ceil 10gbit burst 1251600b cburst 1251600b
tc qdisc replace dev in0 parent 1:2 handle 2: pfifo limit 1000
tc qdisc replace dev in0 parent 1:10 handle 10: pfifo limit 1000
tc qdisc replace dev in0 parent 1:11 handle 11: pfifo limit 1000
tc qdisc replace dev in0 parent 1:12 handle 12: pfifo limit 1000
tc qdisc replace dev in0 parent 1:13 handle 13: pfifo limit 1000
tc qdisc replace dev in0 parent 1:3 handle 3: pfifo limit 1000
# classification (nftables, loaded atomically)
nft -f - <<'EOF'
table inet testbed
delete table inet testbed
table inet testbed {
	comment "testbed plan 2589ecb189c6878d"
	counter stun.up { }
	counter stun.up.dropped { }
	counter stun.down { }
	counter stun.down.dropped { }
	counter telegram-reflectors.up { }
	counter telegram-reflectors.up.dropped { }
	counter telegram-reflectors.down { }
	counter telegram-reflectors.down.dropped { }
	counter call-ports.up { }
	counter call-ports.up.dropped { }
	counter call-ports.down { }
	counter call-ports.down.dropped { }
	counter call-ranges.up { }
	counter call-ranges.up.dropped { }
	counter call-ranges.down { }
	counter call-ranges.down.dropped { }
	counter default.up { }
	counter default.down { }
	set call_ranges_v4 {
		type ipv4_addr
		flags interval
		auto-merge
		elements = {
			91.108.0.0/18,
			149.154.160.0/20,
			91.105.192.0/23,
			185.76.151.0/24,
			31.13.0.0/16,
			157.240.0.0/16,
			163.70.128.0/19,
			179.60.192.0/22,
			185.60.216.0/22,
			102.132.96.0/20,
			69.171.0.0/16,
		}
	}
	set res_stun_up_v4 {
		type ipv4_addr . ipv4_addr . inet_proto . inet_service
		flags timeout
		timeout 300s
	}
	set res_stun_up_v6 {
		type ipv6_addr . ipv6_addr . inet_proto . inet_service
		flags timeout
		timeout 300s
	}
	set res_stun_down_v4 {
		type ipv4_addr . ipv4_addr . inet_proto . inet_service
		flags timeout
		timeout 300s
	}
	set res_stun_down_v6 {
		type ipv6_addr . ipv6_addr . inet_proto . inet_service
		flags timeout
		timeout 300s
	}
	chain forward {
		type filter hook forward priority 0; policy accept;
		iifname "in0" oifname "out0" jump uplink
		iifname "out0" oifname "in0" jump downlink
		iifname "out0" oifname "out0" meta priority set 1:3 comment "between hosts abroad: no border crossed"
		iifname "in0" oifname "in0" meta priority set 1:3 comment "between hosts inside: no border crossed"
	}
	chain uplink {
		meta l4proto { tcp, udp } ip saddr . ip daddr . meta l4proto . th dport @res_stun_up_v4 counter name "stun.up" counter name "stun.up.dropped" drop comment "stun: residual block"
		meta l4proto { tcp, udp } ip6 saddr . ip6 daddr . meta l4proto . th dport @res_stun_up_v6 counter name "stun.up" counter name "stun.up.dropped" drop comment "stun: residual block"
		meta l4proto { tcp, udp } ip saddr . ip daddr . meta l4proto . th dport @res_stun_down_v4 counter name "stun.up" counter name "stun.up.dropped" drop comment "stun: residual block"
		meta l4proto { tcp, udp } ip6 saddr . ip6 daddr . meta l4proto . th dport @res_stun_down_v6 counter name "stun.up" counter name "stun.up.dropped" drop comment "stun: residual block"
		meta l4proto udp @ih,32,32 0x2112a442 meta nfproto ipv4 meta l4proto { tcp, udp } update @res_stun_up_v4 { ip saddr . ip daddr . meta l4proto . th dport } counter name "stun.up" counter name "stun.up.dropped" drop comment "stun"
		meta l4proto udp @ih,32,32 0x2112a442 meta nfproto ipv6 meta l4proto { tcp, udp } update @res_stun_up_v6 { ip6 saddr . ip6 daddr . meta l4proto . th dport } counter name "stun.up" counter name "stun.up.dropped" drop comment "stun"
		meta l4proto udp @ih,128,96 0xffffffffffffffffffffffff counter name "telegram-reflectors.up" counter name "telegram-reflectors.up.dropped" drop comment "telegram-reflectors"
		udp dport { 590-1400, 3478 } counter name "call-ports.up" counter name "call-ports.up.dropped" drop comment "call-ports"
		udp sport { 590-1400, 3478 } counter name "call-ports.up" counter name "call-ports.up.dropped" drop comment "call-ports"
		meta l4proto udp ip daddr @call_ranges_v4 counter name "call-ranges.up" counter name "call-ranges.up.dropped" drop comment "call-ranges"
		meta l4proto udp ip saddr @call_ranges_v4 counter name "call-ranges.up" counter name "call-ranges.up.dropped" drop comment "call-ranges"
		meta priority set 1:2 counter name "default.up" comment "default"
	}
	chain downlink {
		meta l4proto { tcp, udp } ip daddr . ip saddr . meta l4proto . th sport @res_stun_up_v4 counter name "stun.down" counter name "stun.down.dropped" drop comment "stun: residual block"
		meta l4proto { tcp, udp } ip6 daddr . ip6 saddr . meta l4proto . th sport @res_stun_up_v6 counter name "stun.down" counter name "stun.down.dropped" drop comment "stun: residual block"
		meta l4proto { tcp, udp } ip daddr . ip saddr . meta l4proto . th sport @res_stun_down_v4 counter name "stun.down" counter name "stun.down.dropped" drop comment "stun: residual block"
		meta l4proto { tcp, udp } ip6 daddr . ip6 saddr . meta l4proto . th sport @res_stun_down_v6 counter name "stun.down" counter name "stun.down.dropped" drop comment "stun: residual block"
		meta l4proto udp @ih,32,32 0x2112a442 meta nfproto ipv4 meta l4proto { tcp, udp } update @res_stun_down_v4 { ip daddr . ip saddr . meta l4proto . th sport } counter name "stun.down" counter name "stun.down.dropped" drop comment "stun"
		meta l4proto udp @ih,32,32 0x2112a442 meta nfproto ipv6 meta l4proto { tcp, udp } update @res_stun_down_v6 { ip6 daddr . ip6 saddr . meta l4proto . th sport } counter name "stun.down" counter name "stun.down.dropped" drop comment "stun"
		meta l4proto udp @ih,128,96 0xffffffffffffffffffffffff counter name "telegram-reflectors.down" counter name "telegram-reflectors.down.dropped" drop comment "telegram-reflectors"
		udp dport { 590-1400, 3478 } counter name "call-ports.down" counter name "call-ports.down.dropped" drop comment "call-ports"
		udp sport { 590-1400, 3478 } counter name "call-ports.down" counter name "call-ports.down.dropped" drop comment "call-ports"
		meta l4proto udp ip daddr @call_ranges_v4 counter name "call-ranges.down" counter name "call-ranges.down.dropped" drop comment "call-ranges"
		meta l4proto udp ip saddr @call_ranges_v4 counter name "call-ranges.down" counter name "call-ranges.down.dropped" drop comment "call-ranges"
		meta priority set 1:2 counter name "default.down" comment "default"
	}
}
EOF
