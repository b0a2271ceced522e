# profile ru-2025-16kb-freeze: run in the censor node (testbed exec censor -- sh)
sysctl -qw net.netfilter.nf_conntrack_acct=1
# uplink on out0
tc qdisc replace dev out0 root handle 1: htb default 2
tc class replace dev out0 parent 1: classid 1:1 htb rate 10gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev out0 parent 1:1 classid 1:2 htb rate 3333333kbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev out0 parent 1:1 classid 1:10 htb rate 3333333kbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev out0 parent 1:1 classid 1:11 htb rate 3333333kbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev out0 parent 1: classid 1:3 htb rate 10gbit ceil 10gbit burst 1251600b cburst 1251600b
tc qdisc replace dev out0 parent 1:2 handle 2: pfifo limit 1000
tc qdisc replace dev out0 parent 1:10 handle 10: pfifo limit 1000
tc qdisc replace dev out0 parent 1:11 handle 11: pfifo limit 1000
tc qdisc replace dev out0 parent 1:3 handle 3: pfifo limit 1000
# downlink on in0
tc qdisc replace dev in0 root handle 1: htb default 2
tc class replace dev in0 parent 1: classid 1:1 htb rate 10gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev in0 parent 1:1 classid 1:2 htb rate 3333333kbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev in0 parent 1:1 classid 1:10 htb rate 3333333kbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev in0 parent 1:1 classid 1:11 htb rate 3333333kbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev in0 parent 1: classid 1:3 htb rate 10gbit ceil 10gbit burst 1251600b cburst 1251600b
tc qdisc replace dev in0 parent 1:2 handle 2: pfifo limit 1000
tc qdisc replace dev in0 parent 1:10 handle 10: pfifo limit 1000
tc qdisc replace dev in0 parent 1:11 handle 11: pfifo limit 1000
tc qdisc replace dev in0 parent 1:3 handle 3: pfifo limit 1000
# classification (nftables, loaded atomically)
nft -f - <<'EOF'
table inet testbed
delete table inet testbed
table inet testbed {
	comment "testbed plan 8d7da3d19d6f98de"
	counter tcp-freeze.up { }
	counter tcp-freeze.down { }
	counter tcp-freeze.down.dropped { }
	counter udp-block.up { }
	counter udp-block.up.dropped { }
	counter udp-block.down { }
	counter udp-block.down.dropped { }
	counter default.up { }
	counter default.down { }
	set foreign_dc_v4 {
		type ipv4_addr
		flags interval
		auto-merge
		elements = {
			5.9.0.0/16,
			37.27.0.0/16,
			78.46.0.0/15,
			88.198.0.0/16,
			95.216.0.0/16,
			135.181.0.0/16,
			136.243.0.0/16,
			138.201.0.0/16,
			144.76.0.0/16,
			148.251.0.0/16,
			157.90.0.0/16,
			159.69.0.0/16,
			168.119.0.0/16,
			176.9.0.0/16,
			195.201.0.0/16,
			46.101.0.0/16,
			68.183.0.0/16,
			104.131.0.0/16,
			104.236.0.0/16,
			128.199.0.0/16,
			134.209.0.0/16,
			138.68.0.0/16,
			138.197.0.0/16,
			139.59.0.0/16,
			142.93.0.0/16,
			159.65.0.0/16,
			159.89.0.0/16,
			161.35.0.0/16,
			165.227.0.0/16,
			167.99.0.0/16,
			188.166.0.0/16,
			206.189.0.0/16,
			37.59.0.0/16,
			37.187.0.0/16,
			46.105.0.0/16,
			51.68.0.0/16,
			51.75.0.0/16,
			51.77.0.0/16,
			51.89.0.0/16,
			51.91.0.0/16,
			54.36.0.0/16,
			54.37.0.0/16,
			54.38.0.0/16,
			91.121.0.0/16,
			137.74.0.0/16,
			145.239.0.0/16,
			147.135.0.0/16,
			149.202.0.0/16,
			151.80.0.0/16,
			164.132.0.0/16,
			176.31.0.0/16,
			178.32.0.0/15,
			188.165.0.0/16,
			217.182.0.0/16,
			103.21.244.0/22,
			103.22.200.0/22,
			103.31.4.0/22,
			104.16.0.0/13,
			104.24.0.0/14,
			108.162.192.0/18,
			131.0.72.0/22,
			141.101.64.0/18,
			162.158.0.0/15,
			172.64.0.0/13,
			173.245.48.0/20,
			188.114.96.0/20,
			190.93.240.0/20,
			197.234.240.0/22,
			198.41.128.0/17,
			2.16.0.0/13,
			23.32.0.0/11,
			23.192.0.0/11,
			96.16.0.0/15,
			104.64.0.0/10,
			184.24.0.0/13,
		}
	}
	set foreign_dc_v6 {
		type ipv6_addr
		flags interval
		auto-merge
		elements = {
			2400:cb00::/32,
			2405:8100::/32,
			2405:b500::/32,
			2606:4700::/32,
			2803:f800::/32,
			2a06:98c0::/29,
			2c0f:f248::/32,
		}
	}
	set res_udp_block_up_v4 {
		type ipv4_addr
		flags timeout
		timeout 600s
	}
	set res_udp_block_up_v6 {
		type ipv6_addr
		flags timeout
		timeout 600s
	}
	set res_udp_block_down_v4 {
		type ipv4_addr
		flags timeout
		timeout 600s
	}
	set res_udp_block_down_v6 {
		type ipv6_addr
		flags timeout
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
		ip daddr @res_udp_block_up_v4 counter name "udp-block.up" counter name "udp-block.up.dropped" drop comment "udp-block: residual block"
		ip6 daddr @res_udp_block_up_v6 counter name "udp-block.up" counter name "udp-block.up.dropped" drop comment "udp-block: residual block"
		ip daddr @res_udp_block_down_v4 counter name "udp-block.up" counter name "udp-block.up.dropped" drop comment "udp-block: residual block"
		ip6 daddr @res_udp_block_down_v6 counter name "udp-block.up" counter name "udp-block.up.dropped" drop comment "udp-block: residual block"
		meta l4proto tcp ip saddr @foreign_dc_v4 meta priority set 1:10 counter name "tcp-freeze.up" accept comment "tcp-freeze"
		meta l4proto tcp ip6 saddr @foreign_dc_v6 meta priority set 1:10 counter name "tcp-freeze.up" accept comment "tcp-freeze"
		meta l4proto tcp ip daddr @foreign_dc_v4 meta priority set 1:10 counter name "tcp-freeze.up" accept comment "tcp-freeze"
		meta l4proto tcp ip6 daddr @foreign_dc_v6 meta priority set 1:10 counter name "tcp-freeze.up" accept comment "tcp-freeze"
		meta l4proto udp ip saddr @foreign_dc_v4 update @res_udp_block_up_v4 { ip daddr } counter name "udp-block.up" counter name "udp-block.up.dropped" drop comment "udp-block"
		meta l4proto udp ip6 saddr @foreign_dc_v6 update @res_udp_block_up_v6 { ip6 daddr } counter name "udp-block.up" counter name "udp-block.up.dropped" drop comment "udp-block"
		meta l4proto udp ip daddr @foreign_dc_v4 update @res_udp_block_up_v4 { ip daddr } counter name "udp-block.up" counter name "udp-block.up.dropped" drop comment "udp-block"
		meta l4proto udp ip6 daddr @foreign_dc_v6 update @res_udp_block_up_v6 { ip6 daddr } counter name "udp-block.up" counter name "udp-block.up.dropped" drop comment "udp-block"
		meta priority set 1:2 counter name "default.up" comment "default"
	}
	chain downlink {
		ip saddr @res_udp_block_up_v4 counter name "udp-block.down" counter name "udp-block.down.dropped" drop comment "udp-block: residual block"
		ip6 saddr @res_udp_block_up_v6 counter name "udp-block.down" counter name "udp-block.down.dropped" drop comment "udp-block: residual block"
		ip saddr @res_udp_block_down_v4 counter name "udp-block.down" counter name "udp-block.down.dropped" drop comment "udp-block: residual block"
		ip6 saddr @res_udp_block_down_v6 counter name "udp-block.down" counter name "udp-block.down.dropped" drop comment "udp-block: residual block"
		meta l4proto tcp ip saddr @foreign_dc_v4 ct reply bytes > 16384 counter name "tcp-freeze.down" counter name "tcp-freeze.down.dropped" drop comment "tcp-freeze"
		meta l4proto tcp ip6 saddr @foreign_dc_v6 ct reply bytes > 16384 counter name "tcp-freeze.down" counter name "tcp-freeze.down.dropped" drop comment "tcp-freeze"
		meta l4proto tcp ip daddr @foreign_dc_v4 ct reply bytes > 16384 counter name "tcp-freeze.down" counter name "tcp-freeze.down.dropped" drop comment "tcp-freeze"
		meta l4proto tcp ip6 daddr @foreign_dc_v6 ct reply bytes > 16384 counter name "tcp-freeze.down" counter name "tcp-freeze.down.dropped" drop comment "tcp-freeze"
		meta l4proto udp ip saddr @foreign_dc_v4 update @res_udp_block_down_v4 { ip saddr } counter name "udp-block.down" counter name "udp-block.down.dropped" drop comment "udp-block"
		meta l4proto udp ip6 saddr @foreign_dc_v6 update @res_udp_block_down_v6 { ip6 saddr } counter name "udp-block.down" counter name "udp-block.down.dropped" drop comment "udp-block"
		meta l4proto udp ip daddr @foreign_dc_v4 update @res_udp_block_down_v4 { ip saddr } counter name "udp-block.down" counter name "udp-block.down.dropped" drop comment "udp-block"
		meta l4proto udp ip6 daddr @foreign_dc_v6 update @res_udp_block_down_v6 { ip6 saddr } counter name "udp-block.down" counter name "udp-block.down.dropped" drop comment "udp-block"
		meta priority set 1:2 counter name "default.down" comment "default"
	}
}
EOF
