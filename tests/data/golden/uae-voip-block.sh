# profile uae-voip-block: run in the censor node (testbed exec censor -- sh)
# uplink on out0
tc qdisc replace dev out0 root handle 1: htb default 2
tc class replace dev out0 parent 1: classid 1:1 htb rate 10gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev out0 parent 1:1 classid 1:2 htb rate 2500mbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev out0 parent 1:1 classid 1:10 htb rate 2500mbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev out0 parent 1:1 classid 1:11 htb rate 2500mbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev out0 parent 1:1 classid 1:12 htb rate 2500mbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev out0 parent 1: classid 1:3 htb rate 10gbit ceil 10gbit burst 1251600b cburst 1251600b
tc qdisc replace dev out0 parent 1:2 handle 2: pfifo limit 1000
tc qdisc replace dev out0 parent 1:10 handle 10: pfifo limit 1000
tc qdisc replace dev out0 parent 1:11 handle 11: pfifo limit 1000
tc qdisc replace dev out0 parent 1:12 handle 12: pfifo limit 1000
tc qdisc replace dev out0 parent 1:3 handle 3: pfifo limit 1000
# downlink on in0
tc qdisc replace dev in0 root handle 1: htb default 2
tc class replace dev in0 parent 1: classid 1:1 htb rate 10gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev in0 parent 1:1 classid 1:2 htb rate 2500mbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev in0 parent 1:1 classid 1:10 htb rate 2500mbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev in0 parent 1:1 classid 1:11 htb rate 2500mbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev in0 parent 1:1 classid 1:12 htb rate 2500mbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev in0 parent 1: classid 1:3 htb rate 10gbit ceil 10gbit burst 1251600b cburst 1251600b
tc qdisc replace dev in0 parent 1:2 handle 2: pfifo limit 1000
tc qdisc replace dev in0 parent 1:10 handle 10: pfifo limit 1000
tc qdisc replace dev in0 parent 1:11 handle 11: pfifo limit 1000
tc qdisc replace dev in0 parent 1:12 handle 12: pfifo limit 1000
tc qdisc replace dev in0 parent 1:3 handle 3: pfifo limit 1000
# classification (nftables, loaded atomically)
nft -f - <<'EOF'
table inet testbed
delete table inet testbed
table inet testbed {
	comment "testbed plan 0cd1d4dbaab8e752"
	counter sip.up { }
	counter sip.up.dropped { }
	counter sip.down { }
	counter sip.down.dropped { }
	counter stun.up { }
	counter stun.up.dropped { }
	counter stun.down { }
	counter stun.down.dropped { }
	counter voip-ports.up { }
	counter voip-ports.up.dropped { }
	counter voip-ports.down { }
	counter voip-ports.down.dropped { }
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
		tcp dport 5060-5061 counter name "sip.up" counter name "sip.up.dropped" drop comment "sip"
		udp dport 5060-5061 counter name "sip.up" counter name "sip.up.dropped" drop comment "sip"
		tcp sport 5060-5061 counter name "sip.up" counter name "sip.up.dropped" drop comment "sip"
		udp sport 5060-5061 counter name "sip.up" counter name "sip.up.dropped" drop comment "sip"
		meta l4proto udp @ih,32,32 0x2112a442 counter name "stun.up" counter name "stun.up.dropped" drop comment "stun"
		udp dport { 3478-3481, 16384-16387, 16393-16402 } counter name "voip-ports.up" counter name "voip-ports.up.dropped" drop comment "voip-ports"
		udp sport { 3478-3481, 16384-16387, 16393-16402 } counter name "voip-ports.up" counter name "voip-ports.up.dropped" drop comment "voip-ports"
		meta priority set 1:2 counter name "default.up" comment "default"
	}
	chain downlink {
		tcp dport 5060-5061 counter name "sip.down" counter name "sip.down.dropped" drop comment "sip"
		udp dport 5060-5061 counter name "sip.down" counter name "sip.down.dropped" drop comment "sip"
		tcp sport 5060-5061 counter name "sip.down" counter name "sip.down.dropped" drop comment "sip"
		udp sport 5060-5061 counter name "sip.down" counter name "sip.down.dropped" drop comment "sip"
		meta l4proto udp @ih,32,32 0x2112a442 counter name "stun.down" counter name "stun.down.dropped" drop comment "stun"
		udp dport { 3478-3481, 16384-16387, 16393-16402 } counter name "voip-ports.down" counter name "voip-ports.down.dropped" drop comment "voip-ports"
		udp sport { 3478-3481, 16384-16387, 16393-16402 } counter name "voip-ports.down" counter name "voip-ports.down.dropped" drop comment "voip-ports"
		meta priority set 1:2 counter name "default.down" comment "default"
	}
}
EOF
