# profile ru-2025-calls-degraded: run in the censor node (testbed exec censor -- sh)
# uplink on out0
tc qdisc replace dev out0 root handle 1: htb default 2
tc class replace dev out0 parent 1: classid 1:1 htb rate 10gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev out0 parent 1:1 classid 1:2 htb rate 1666666kbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev out0 parent 1:1 classid 1:10 htb rate 1666666kbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev out0 parent 1:1 classid 1:11 htb rate 1666666kbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev out0 parent 1:1 classid 1:12 htb rate 1666666kbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev out0 parent 1:1 classid 1:13 htb rate 1666666kbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev out0 parent 1:1 classid 1:14 htb rate 1666666kbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev out0 parent 1: classid 1:3 htb rate 10gbit ceil 10gbit burst 1251600b cburst 1251600b
tc qdisc replace dev out0 parent 1:2 handle 2: pfifo limit 1000
tc qdisc replace dev out0 parent 1:10 handle 10: netem limit 1000 delay 40ms 30ms distribution paretonormal loss gemodel 8% 35% 80% 1%
tc qdisc replace dev out0 parent 1:11 handle 11: netem limit 1000 delay 40ms 30ms distribution paretonormal loss gemodel 8% 35% 80% 1%
tc qdisc replace dev out0 parent 1:12 handle 12: netem limit 1000 delay 40ms 30ms distribution paretonormal loss gemodel 8% 35% 80% 1%
tc qdisc replace dev out0 parent 1:13 handle 13: netem limit 1000 delay 40ms 30ms distribution paretonormal loss gemodel 8% 35% 80% 1%
tc qdisc replace dev out0 parent 1:14 handle 14: netem limit 1000 delay 40ms 30ms distribution paretonormal loss gemodel 8% 35% 80% 1%
tc qdisc replace dev out0 parent 1:3 handle 3: pfifo limit 1000
# downlink on in0
tc qdisc replace dev in0 root handle 1: htb default 2
tc class replace dev in0 parent 1: classid 1:1 htb rate 10gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev in0 parent 1:1 classid 1:2 htb rate 1666666kbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev in0 parent 1:1 classid 1:10 htb rate 1666666kbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev in0 parent 1:1 classid 1:11 htb rate 1666666kbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev in0 parent 1:1 classid 1:12 htb rate 1666666kbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev in0 parent 1:1 classid 1:13 htb rate 1666666kbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev in0 parent 1:1 classid 1:14 htb rate 1666666kbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev in0 parent 1: classid 1:3 htb rate 10gbit ceil 10gbit burst 1251600b cburst 1251600b
tc qdisc replace dev in0 parent 1:2 handle 2: pfifo limit 1000
tc qdisc replace dev in0 parent 1:10 handle 10: netem limit 1000 delay 40ms 30ms distribution paretonormal loss gemodel 8% 35% 80% 1%
tc qdisc replace dev in0 parent 1:11 handle 11: netem limit 1000 delay 40ms 30ms distribution paretonormal loss gemodel 8% 35% 80% 1%
tc qdisc replace dev in0 parent 1:12 handle 12: netem limit 1000 delay 40ms 30ms distribution paretonormal loss gemodel 8% 35% 80% 1%
tc qdisc replace dev in0 parent 1:13 handle 13: netem limit 1000 delay 40ms 30ms distribution paretonormal loss gemodel 8% 35% 80% 1%
tc qdisc replace dev in0 parent 1:14 handle 14: netem limit 1000 delay 40ms 30ms distribution paretonormal loss gemodel 8% 35% 80% 1%
tc qdisc replace dev in0 parent 1:3 handle 3: pfifo limit 1000
# classification (nftables, loaded atomically)
nft -f - <<'EOF'
table inet testbed
delete table inet testbed
table inet testbed {
	comment "testbed plan 1a36515977e625bb"
	counter stun.up { }
	counter stun.down { }
	counter stun-flows.up { }
	counter stun-flows.down { }
	counter telegram-reflectors.up { }
	counter telegram-reflectors.down { }
	counter call-ports.up { }
	counter call-ports.down { }
	counter telegram-ranges.up { }
	counter telegram-ranges.down { }
	counter default.up { }
	counter default.down { }
	set telegram_v4 {
		type ipv4_addr
		flags interval
		auto-merge
		elements = {
			91.108.0.0/18,
			149.154.160.0/20,
			91.105.192.0/23,
			185.76.151.0/24,
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
		meta l4proto udp @ih,32,32 0x2112a442 ct mark set ct mark | 0x00000001 meta priority set 1:10 counter name "stun.up" accept comment "stun"
		ct mark & 0x00000001 == 0x00000001 meta priority set 1:11 counter name "stun-flows.up" accept comment "stun-flows"
		meta l4proto udp @ih,128,96 0xffffffffffffffffffffffff meta priority set 1:12 counter name "telegram-reflectors.up" accept comment "telegram-reflectors"
		udp dport 590-1400 meta priority set 1:13 counter name "call-ports.up" accept comment "call-ports"
		meta l4proto udp ip daddr @telegram_v4 meta priority set 1:14 counter name "telegram-ranges.up" accept comment "telegram-ranges"
		meta l4proto udp ip saddr @telegram_v4 meta priority set 1:14 counter name "telegram-ranges.up" accept comment "telegram-ranges"
		meta priority set 1:2 counter name "default.up" comment "default"
	}
	chain downlink {
		meta l4proto udp @ih,32,32 0x2112a442 ct mark set ct mark | 0x00000001 meta priority set 1:10 counter name "stun.down" accept comment "stun"
		ct mark & 0x00000001 == 0x00000001 meta priority set 1:11 counter name "stun-flows.down" accept comment "stun-flows"
		meta l4proto udp @ih,128,96 0xffffffffffffffffffffffff meta priority set 1:12 counter name "telegram-reflectors.down" accept comment "telegram-reflectors"
		udp dport 590-1400 meta priority set 1:13 counter name "call-ports.down" accept comment "call-ports"
		meta l4proto udp ip daddr @telegram_v4 meta priority set 1:14 counter name "telegram-ranges.down" accept comment "telegram-ranges"
		meta l4proto udp ip saddr @telegram_v4 meta priority set 1:14 counter name "telegram-ranges.down" accept comment "telegram-ranges"
		meta priority set 1:2 counter name "default.down" comment "default"
	}
}
EOF
