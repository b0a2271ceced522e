# profile everything: run in the censor node (testbed exec censor -- sh)
sysctl -qw net.netfilter.nf_conntrack_acct=1
# uplink on out0
tc qdisc replace dev out0 root handle 1: htb default 2
tc class replace dev out0 parent 1: classid 1:1 htb rate 100mbit ceil 100mbit burst 14100b cburst 14100b
tc class replace dev out0 parent 1:1 classid 1:2 htb rate 7692kbit ceil 100mbit burst 14100b cburst 14100b
tc class replace dev out0 parent 1:1 classid 1:10 htb rate 7692kbit ceil 100mbit burst 14100b cburst 14100b
tc class replace dev out0 parent 1:1 classid 1:11 htb rate 7692kbit ceil 100mbit burst 14100b cburst 14100b
tc class replace dev out0 parent 1:1 classid 1:12 htb rate 7692kbit ceil 100mbit burst 14100b cburst 14100b
tc class replace dev out0 parent 1:1 classid 1:13 htb rate 7692kbit ceil 100mbit burst 14100b cburst 14100b
tc class replace dev out0 parent 1:1 classid 1:14 htb rate 7692kbit ceil 100mbit burst 14100b cburst 14100b
tc class replace dev out0 parent 1:1 classid 1:15 htb rate 7692kbit ceil 100mbit burst 14100b cburst 14100b
tc class replace dev out0 parent 1:1 classid 1:16 htb rate 7692kbit ceil 100mbit burst 14100b cburst 14100b
tc class replace dev out0 parent 1:1 classid 1:17 htb rate 7692kbit ceil 100mbit burst 14100b cburst 14100b
tc class replace dev out0 parent 1:1 classid 1:18 htb rate 1mbit ceil 2mbit burst 4096b cburst 4096b
tc class replace dev out0 parent 1:1 classid 1:19 htb rate 512kbit ceil 512kbit burst 1664b cburst 1664b
tc class replace dev out0 parent 1:1 classid 1:1a htb rate 7692kbit ceil 100mbit burst 14100b cburst 14100b
tc class replace dev out0 parent 1:1 classid 1:1b htb rate 7692kbit ceil 100mbit burst 14100b cburst 14100b
tc class replace dev out0 parent 1: classid 1:3 htb rate 10gbit ceil 10gbit burst 1251600b cburst 1251600b
tc qdisc replace dev out0 parent 1:2 handle 2: netem limit 1000 delay 2ms
tc qdisc replace dev out0 parent 1:10 handle 10: netem limit 5000 delay 32ms 10ms 25% distribution normal loss random 5% 20% corrupt 0.1% reorder 10% 50% gap 5 rate 2mbit 14 48 5
tc qdisc replace dev out0 parent 1:11 handle 11: netem limit 1000 delay 22ms loss state 2% 60% 1% 90% 0.5% ecn
tc qdisc replace dev out0 parent 1:12 handle 12: netem limit 1000 delay 52ms 20ms distribution pareto loss gemodel 5% 30% 90% 0.5%
tc qdisc replace dev out0 parent 1:13 handle 13: netem limit 1000 delay 2ms
tc qdisc replace dev out0 parent 1:14 handle 14: netem limit 1000 delay 2ms
tc qdisc replace dev out0 parent 1:15 handle 15: netem limit 1000 delay 2ms
tc qdisc replace dev out0 parent 1:16 handle 16: netem limit 1000 delay 2ms
tc qdisc replace dev out0 parent 1:17 handle 17: netem limit 1000 delay 2ms
tc qdisc replace dev out0 parent 1:18 handle 18: netem limit 1000 delay 2ms
tc qdisc replace dev out0 parent 1:19 handle 19: netem limit 1000 delay 2ms
tc qdisc replace dev out0 parent 1:1a handle 1a: netem limit 1000 delay 2ms
tc qdisc replace dev out0 parent 1:1b handle 1b: netem limit 1000 delay 2ms
tc qdisc replace dev out0 parent 1:3 handle 3: pfifo limit 1000
# downlink on in0
tc qdisc replace dev in0 root handle 1: htb default 2
tc class replace dev in0 parent 1: classid 1:1 htb rate 100mbit ceil 100mbit burst 14100b cburst 14100b
tc class replace dev in0 parent 1:1 classid 1:2 htb rate 7692kbit ceil 100mbit burst 14100b cburst 14100b
tc class replace dev in0 parent 1:1 classid 1:10 htb rate 7692kbit ceil 100mbit burst 14100b cburst 14100b
tc class replace dev in0 parent 1:1 classid 1:11 htb rate 7692kbit ceil 100mbit burst 14100b cburst 14100b
tc class replace dev in0 parent 1:1 classid 1:12 htb rate 7692kbit ceil 100mbit burst 14100b cburst 14100b
tc class replace dev in0 parent 1:1 classid 1:13 htb rate 7692kbit ceil 100mbit burst 14100b cburst 14100b
tc class replace dev in0 parent 1:1 classid 1:14 htb rate 7692kbit ceil 100mbit burst 14100b cburst 14100b
tc class replace dev in0 parent 1:1 classid 1:15 htb rate 7692kbit ceil 100mbit burst 14100b cburst 14100b
tc class replace dev in0 parent 1:1 classid 1:16 htb rate 7692kbit ceil 100mbit burst 14100b cburst 14100b
tc class replace dev in0 parent 1:1 classid 1:17 htb rate 7692kbit ceil 100mbit burst 14100b cburst 14100b
tc class replace dev in0 parent 1:1 classid 1:18 htb rate 1mbit ceil 2mbit burst 4096b cburst 4096b
tc class replace dev in0 parent 1:1 classid 1:19 htb rate 512kbit ceil 512kbit burst 1664b cburst 1664b
tc class replace dev in0 parent 1:1 classid 1:1a htb rate 7692kbit ceil 100mbit burst 14100b cburst 14100b
tc class replace dev in0 parent 1:1 classid 1:1b htb rate 7692kbit ceil 100mbit burst 14100b cburst 14100b
tc class replace dev in0 parent 1: classid 1:3 htb rate 10gbit ceil 10gbit burst 1251600b cburst 1251600b
tc qdisc replace dev in0 parent 1:2 handle 2: netem limit 1000 delay 2ms
tc qdisc replace dev in0 parent 1:10 handle 10: netem limit 5000 delay 32ms 10ms 25% distribution normal loss random 5% 20% corrupt 0.1% reorder 10% 50% gap 5 rate 2mbit 14 48 5
tc qdisc replace dev in0 parent 1:11 handle 11: netem limit 1000 delay 22ms slot 5ms 15ms packets 8 bytes 12000
tc qdisc replace dev in0 parent 1:12 handle 12: netem limit 1000 delay 52ms 20ms distribution pareto loss gemodel 5% 30% 90% 0.5%
tc qdisc replace dev in0 parent 1:13 handle 13: netem limit 1000 delay 2ms
tc qdisc replace dev in0 parent 1:14 handle 14: netem limit 1000 delay 2ms
tc qdisc replace dev in0 parent 1:15 handle 15: netem limit 1000 delay 2ms
tc qdisc replace dev in0 parent 1:16 handle 16: netem limit 1000 delay 2ms
tc qdisc replace dev in0 parent 1:17 handle 17: netem limit 1000 delay 2ms
tc qdisc replace dev in0 parent 1:18 handle 18: netem limit 1000 delay 2ms
tc qdisc replace dev in0 parent 1:19 handle 19: netem limit 1000 delay 2ms
tc qdisc replace dev in0 parent 1:1a handle 1a: netem limit 1000 delay 2ms
tc qdisc replace dev in0 parent 1:1b handle 1b: netem limit 1000 delay 2ms
tc qdisc replace dev in0 parent 1:3 handle 3: pfifo limit 1000
# classification (nftables, loaded atomically)
nft -f - <<'EOF'
table inet testbed
delete table inet testbed
table inet testbed {
	comment "testbed plan 9b48139947da85e9"
	counter stun.up { }
	counter stun.down { }
	counter markov.up { }
	counter markov.down { }
	counter ge.up { }
	counter ge.down { }
	counter quic.up { }
	counter quic.up.dropped { }
	counter quic.down { }
	counter wireguard.up { }
	counter wireguard.up.dropped { }
	counter wireguard.down { }
	counter wireguard.down.dropped { }
	counter freeze.up { }
	counter freeze.down { }
	counter freeze.down.dropped { }
	counter blocked-hosts.up { }
	counter blocked-hosts.up.dropped { }
	counter blocked-hosts.down { }
	counter blocked-hosts.down.dropped { }
	counter throttle.up { }
	counter throttle.up.dropped { }
	counter throttle.down { }
	counter throttle.down.dropped { }
	counter shaped.up { }
	counter shaped.down { }
	counter bucket.up { }
	counter bucket.down { }
	counter chat.up { }
	counter chat.down { }
	counter app.up { }
	counter app.down { }
	counter app.down.dropped { }
	counter default.up { }
	counter default.up.dropped { }
	counter default.down { }
	set dc_v4 {
		type ipv4_addr
		flags interval
		auto-merge
		elements = {
			198.51.100.0/24,
			192.0.2.0/24,
		}
	}
	set dc_v6 {
		type ipv6_addr
		flags interval
		auto-merge
		elements = {
			2001:db8:1::/48,
		}
	}
	set mixed_v4 {
		type ipv4_addr
		flags interval
		auto-merge
		elements = {
			203.0.113.0/24,
		}
	}
	set mixed_v6 {
		type ipv6_addr
		flags interval
		auto-merge
		elements = {
			2001:db8::/32,
		}
	}
	set res_wireguard_up_v4 {
		type ipv4_addr . ipv4_addr . inet_proto . inet_service
		flags timeout
		timeout 420s
	}
	set res_wireguard_up_v6 {
		type ipv6_addr . ipv6_addr . inet_proto . inet_service
		flags timeout
		timeout 420s
	}
	set res_blocked_hosts_up_v4 {
		type ipv4_addr
		flags timeout
		timeout 75s
	}
	set res_blocked_hosts_up_v6 {
		type ipv6_addr
		flags timeout
		timeout 75s
	}
	set pol_throttle_up_v4 {
		type ipv4_addr . ipv4_addr . inet_proto . inet_service . inet_service
		flags dynamic,timeout
		timeout 600s
	}
	set pol_throttle_up_v6 {
		type ipv6_addr . ipv6_addr . inet_proto . inet_service . inet_service
		flags dynamic,timeout
		timeout 600s
	}
	set res_blocked_hosts_down_v4 {
		type ipv4_addr
		flags timeout
		timeout 75s
	}
	set res_blocked_hosts_down_v6 {
		type ipv6_addr
		flags timeout
		timeout 75s
	}
	set pol_throttle_down_v4 {
		type ipv4_addr . ipv4_addr . inet_proto . inet_service . inet_service
		flags dynamic,timeout
		timeout 600s
	}
	set pol_throttle_down_v6 {
		type ipv6_addr . ipv6_addr . inet_proto . inet_service . inet_service
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
		meta l4proto { tcp, udp } ip saddr . ip daddr . meta l4proto . th dport @res_wireguard_up_v4 counter name "wireguard.up" counter name "wireguard.up.dropped" drop comment "wireguard: residual block"
		meta l4proto { tcp, udp } ip6 saddr . ip6 daddr . meta l4proto . th dport @res_wireguard_up_v6 counter name "wireguard.up" counter name "wireguard.up.dropped" drop comment "wireguard: residual block"
		ip daddr @res_blocked_hosts_up_v4 counter name "blocked-hosts.up" counter name "blocked-hosts.up.dropped" drop comment "blocked-hosts: residual block"
		ip6 daddr @res_blocked_hosts_up_v6 counter name "blocked-hosts.up" counter name "blocked-hosts.up.dropped" drop comment "blocked-hosts: residual block"
		ip daddr @res_blocked_hosts_down_v4 counter name "blocked-hosts.up" counter name "blocked-hosts.up.dropped" drop comment "blocked-hosts: residual block"
		ip6 daddr @res_blocked_hosts_down_v6 counter name "blocked-hosts.up" counter name "blocked-hosts.up.dropped" drop comment "blocked-hosts: residual block"
		udp dport { 590-1400, 3478 } @ih,32,32 0x2112a442 meta priority set 1:10 counter name "stun.up" accept comment "stun"
		udp sport 5004 meta length 100-1400 ip dscp { 34, 46 } meta priority set 1:11 counter name "markov.up" accept comment "markov"
		udp sport 5004 meta length 100-1400 ip6 dscp { 34, 46 } meta priority set 1:11 counter name "markov.up" accept comment "markov"
		udp dport 5006 meta priority set 1:12 counter name "ge.up" accept comment "ge"
		udp dport 443 udp length >= 1009 @ih,8,32 0x00000001 counter name "quic.up" counter name "quic.up.dropped" drop comment "quic"
		udp length 156 @ih,0,32 & 0xffffffff == 0x01000000 meta nfproto ipv4 meta l4proto { tcp, udp } update @res_wireguard_up_v4 { ip saddr . ip daddr . meta l4proto . th dport } counter name "wireguard.up" counter name "wireguard.up.dropped" drop comment "wireguard"
		udp length 156 @ih,0,32 & 0xffffffff == 0x01000000 meta nfproto ipv6 meta l4proto { tcp, udp } update @res_wireguard_up_v6 { ip6 saddr . ip6 daddr . meta l4proto . th dport } counter name "wireguard.up" counter name "wireguard.up.dropped" drop comment "wireguard"
		meta l4proto tcp ip saddr @dc_v4 meta priority set 1:15 counter name "freeze.up" accept comment "freeze"
		meta l4proto tcp ip6 saddr @dc_v6 meta priority set 1:15 counter name "freeze.up" accept comment "freeze"
		ip daddr @mixed_v4 meta l4proto tcp update @res_blocked_hosts_up_v4 { ip daddr } counter name "blocked-hosts.up" counter name "blocked-hosts.up.dropped" reject with tcp reset comment "blocked-hosts"
		ip daddr @mixed_v4 update @res_blocked_hosts_up_v4 { ip daddr } counter name "blocked-hosts.up" counter name "blocked-hosts.up.dropped" reject with icmpx port-unreachable comment "blocked-hosts"
		ip6 daddr @mixed_v6 meta l4proto tcp update @res_blocked_hosts_up_v6 { ip6 daddr } counter name "blocked-hosts.up" counter name "blocked-hosts.up.dropped" reject with tcp reset comment "blocked-hosts"
		ip6 daddr @mixed_v6 update @res_blocked_hosts_up_v6 { ip6 daddr } counter name "blocked-hosts.up" counter name "blocked-hosts.up.dropped" reject with icmpx port-unreachable comment "blocked-hosts"
		ip saddr @mixed_v4 meta l4proto tcp update @res_blocked_hosts_up_v4 { ip daddr } counter name "blocked-hosts.up" counter name "blocked-hosts.up.dropped" reject with tcp reset comment "blocked-hosts"
		ip saddr @mixed_v4 update @res_blocked_hosts_up_v4 { ip daddr } counter name "blocked-hosts.up" counter name "blocked-hosts.up.dropped" reject with icmpx port-unreachable comment "blocked-hosts"
		ip6 saddr @mixed_v6 meta l4proto tcp update @res_blocked_hosts_up_v6 { ip6 daddr } counter name "blocked-hosts.up" counter name "blocked-hosts.up.dropped" reject with tcp reset comment "blocked-hosts"
		ip6 saddr @mixed_v6 update @res_blocked_hosts_up_v6 { ip6 daddr } counter name "blocked-hosts.up" counter name "blocked-hosts.up.dropped" reject with icmpx port-unreachable comment "blocked-hosts"
		tcp dport != 22 tcp sport != 22 meta nfproto ipv4 meta l4proto { tcp, udp } update @pol_throttle_up_v4 { ip saddr . ip daddr . meta l4proto . th sport . th dport limit rate over 18750 bytes/second burst 16384 bytes } counter name "throttle.up" counter name "throttle.up.dropped" drop comment "throttle"
		tcp dport != 22 tcp sport != 22 meta nfproto ipv6 meta l4proto { tcp, udp } update @pol_throttle_up_v6 { ip6 saddr . ip6 daddr . meta l4proto . th sport . th dport limit rate over 18750 bytes/second burst 16384 bytes } counter name "throttle.up" counter name "throttle.up.dropped" drop comment "throttle"
		tcp dport != 22 tcp sport != 22 meta priority set 1:17 counter name "throttle.up" accept comment "throttle"
		meta l4proto icmp meta priority set 1:18 counter name "shaped.up" accept comment "shaped"
		tcp dport 8080 ct packets > 10 meta priority set 1:19 counter name "bucket.up" accept comment "bucket"
		tcp dport { 443, 5222 } meta priority set 1:1a counter name "chat.up" accept comment "chat"
		meta l4proto udp meta nfproto ipv4 ct original ip saddr @mixed_v4 ct original proto-dst 5000 meta priority set 1:1b counter name "app.up" accept comment "app"
		meta l4proto udp meta nfproto ipv6 ct original ip6 saddr @mixed_v6 ct original proto-dst 5000 meta priority set 1:1b counter name "app.up" accept comment "app"
		limit rate over 6250000 bytes/second burst 65536 bytes counter name "default.up" counter name "default.up.dropped" drop comment "default"
		meta priority set 1:2 counter name "default.up" comment "default"
	}
	chain downlink {
		meta l4proto { tcp, udp } ip daddr . ip saddr . meta l4proto . th sport @res_wireguard_up_v4 counter name "wireguard.down" counter name "wireguard.down.dropped" drop comment "wireguard: residual block"
		meta l4proto { tcp, udp } ip6 daddr . ip6 saddr . meta l4proto . th sport @res_wireguard_up_v6 counter name "wireguard.down" counter name "wireguard.down.dropped" drop comment "wireguard: residual block"
		ip saddr @res_blocked_hosts_up_v4 counter name "blocked-hosts.down" counter name "blocked-hosts.down.dropped" drop comment "blocked-hosts: residual block"
		ip6 saddr @res_blocked_hosts_up_v6 counter name "blocked-hosts.down" counter name "blocked-hosts.down.dropped" drop comment "blocked-hosts: residual block"
		ip saddr @res_blocked_hosts_down_v4 counter name "blocked-hosts.down" counter name "blocked-hosts.down.dropped" drop comment "blocked-hosts: residual block"
		ip6 saddr @res_blocked_hosts_down_v6 counter name "blocked-hosts.down" counter name "blocked-hosts.down.dropped" drop comment "blocked-hosts: residual block"
		udp dport { 590-1400, 3478 } @ih,32,32 0x2112a442 meta priority set 1:10 counter name "stun.down" accept comment "stun"
		udp sport 5004 meta length 100-1400 ip dscp { 34, 46 } meta priority set 1:11 counter name "markov.down" accept comment "markov"
		udp sport 5004 meta length 100-1400 ip6 dscp { 34, 46 } meta priority set 1:11 counter name "markov.down" accept comment "markov"
		udp dport 5006 meta priority set 1:12 counter name "ge.down" accept comment "ge"
		udp dport 443 udp length >= 1009 @ih,8,32 0x00000001 meta priority set 1:13 counter name "quic.down" accept comment "quic"
		udp length 156 @ih,0,32 & 0xffffffff == 0x01000000 meta priority set 1:14 counter name "wireguard.down" accept comment "wireguard"
		meta l4proto tcp ip saddr @dc_v4 ct reply bytes > 16384 counter name "freeze.down" counter name "freeze.down.dropped" drop comment "freeze"
		meta l4proto tcp ip6 saddr @dc_v6 ct reply bytes > 16384 counter name "freeze.down" counter name "freeze.down.dropped" drop comment "freeze"
		ip daddr @mixed_v4 meta l4proto tcp update @res_blocked_hosts_down_v4 { ip saddr } counter name "blocked-hosts.down" counter name "blocked-hosts.down.dropped" reject with tcp reset comment "blocked-hosts"
		ip daddr @mixed_v4 update @res_blocked_hosts_down_v4 { ip saddr } counter name "blocked-hosts.down" counter name "blocked-hosts.down.dropped" reject with icmpx port-unreachable comment "blocked-hosts"
		ip6 daddr @mixed_v6 meta l4proto tcp update @res_blocked_hosts_down_v6 { ip6 saddr } counter name "blocked-hosts.down" counter name "blocked-hosts.down.dropped" reject with tcp reset comment "blocked-hosts"
		ip6 daddr @mixed_v6 update @res_blocked_hosts_down_v6 { ip6 saddr } counter name "blocked-hosts.down" counter name "blocked-hosts.down.dropped" reject with icmpx port-unreachable comment "blocked-hosts"
		ip saddr @mixed_v4 meta l4proto tcp update @res_blocked_hosts_down_v4 { ip saddr } counter name "blocked-hosts.down" counter name "blocked-hosts.down.dropped" reject with tcp reset comment "blocked-hosts"
		ip saddr @mixed_v4 update @res_blocked_hosts_down_v4 { ip saddr } counter name "blocked-hosts.down" counter name "blocked-hosts.down.dropped" reject with icmpx port-unreachable comment "blocked-hosts"
		ip6 saddr @mixed_v6 meta l4proto tcp update @res_blocked_hosts_down_v6 { ip6 saddr } counter name "blocked-hosts.down" counter name "blocked-hosts.down.dropped" reject with tcp reset comment "blocked-hosts"
		ip6 saddr @mixed_v6 update @res_blocked_hosts_down_v6 { ip6 saddr } counter name "blocked-hosts.down" counter name "blocked-hosts.down.dropped" reject with icmpx port-unreachable comment "blocked-hosts"
		tcp dport != 22 tcp sport != 22 meta nfproto ipv4 meta l4proto { tcp, udp } update @pol_throttle_down_v4 { ip saddr . ip daddr . meta l4proto . th sport . th dport limit rate over 18750 bytes/second burst 16384 bytes } counter name "throttle.down" counter name "throttle.down.dropped" drop comment "throttle"
		tcp dport != 22 tcp sport != 22 meta nfproto ipv6 meta l4proto { tcp, udp } update @pol_throttle_down_v6 { ip6 saddr . ip6 daddr . meta l4proto . th sport . th dport limit rate over 18750 bytes/second burst 16384 bytes } counter name "throttle.down" counter name "throttle.down.dropped" drop comment "throttle"
		tcp dport != 22 tcp sport != 22 meta priority set 1:17 counter name "throttle.down" accept comment "throttle"
		meta l4proto icmp meta priority set 1:18 counter name "shaped.down" accept comment "shaped"
		tcp dport 8080 ct packets > 10 meta priority set 1:19 counter name "bucket.down" accept comment "bucket"
		tcp dport { 443, 5222 } meta priority set 1:1a counter name "chat.down" accept comment "chat"
		meta l4proto udp meta nfproto ipv4 ct original ip saddr @mixed_v4 ct original proto-dst 5000 limit rate over 8000 bytes/second burst 4096 bytes counter name "app.down" counter name "app.down.dropped" drop comment "app"
		meta l4proto udp meta nfproto ipv4 ct original ip saddr @mixed_v4 ct original proto-dst 5000 meta priority set 1:1b counter name "app.down" accept comment "app"
		meta l4proto udp meta nfproto ipv6 ct original ip6 saddr @mixed_v6 ct original proto-dst 5000 limit rate over 8000 bytes/second burst 4096 bytes counter name "app.down" counter name "app.down.dropped" drop comment "app"
		meta l4proto udp meta nfproto ipv6 ct original ip6 saddr @mixed_v6 ct original proto-dst 5000 meta priority set 1:1b counter name "app.down" accept comment "app"
		meta priority set 1:2 counter name "default.down" comment "default"
	}
}
EOF
