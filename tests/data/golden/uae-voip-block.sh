# profile uae-voip-block: run in the censor node (testbed exec censor -- sh)
# uplink on outside
tc qdisc replace dev outside root handle 1: htb default 2
tc class replace dev outside parent 1: classid 1:1 htb rate 10gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev outside parent 1:1 classid 1:2 htb rate 2500mbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev outside parent 1:1 classid 1:10 htb rate 2500mbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev outside parent 1:1 classid 1:11 htb rate 2500mbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev outside parent 1:1 classid 1:12 htb rate 2500mbit ceil 10gbit burst 1251600b cburst 1251600b
tc qdisc replace dev outside parent 1:2 handle 2: pfifo limit 1000
tc qdisc replace dev outside parent 1:10 handle 10: pfifo limit 1000
tc qdisc replace dev outside parent 1:11 handle 11: pfifo limit 1000
tc qdisc replace dev outside parent 1:12 handle 12: pfifo limit 1000
# downlink on inside
tc qdisc replace dev inside root handle 1: htb default 2
tc class replace dev inside parent 1: classid 1:1 htb rate 10gbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev inside parent 1:1 classid 1:2 htb rate 2500mbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev inside parent 1:1 classid 1:10 htb rate 2500mbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev inside parent 1:1 classid 1:11 htb rate 2500mbit ceil 10gbit burst 1251600b cburst 1251600b
tc class replace dev inside parent 1:1 classid 1:12 htb rate 2500mbit ceil 10gbit burst 1251600b cburst 1251600b
tc qdisc replace dev inside parent 1:2 handle 2: pfifo limit 1000
tc qdisc replace dev inside parent 1:10 handle 10: pfifo limit 1000
tc qdisc replace dev inside parent 1:11 handle 11: pfifo limit 1000
tc qdisc replace dev inside parent 1:12 handle 12: pfifo limit 1000
# classification (nftables, loaded atomically)
nft -f - <<'EOF'
table inet testbed
delete table inet testbed
table inet testbed {
	comment "testbed plan 77ff2bb7099e1542"
	chain forward {
		type filter hook forward priority 0; policy accept;
		oifname "outside" jump uplink
		oifname "inside" jump downlink
	}
	chain uplink {
		tcp dport 5060-5061 drop comment "sip"
		udp dport 5060-5061 drop comment "sip"
		tcp sport 5060-5061 drop comment "sip"
		udp sport 5060-5061 drop comment "sip"
		meta l4proto udp @ih,32,32 0x2112a442 drop comment "stun"
		udp dport { 3478-3481, 16384-16387, 16393-16402 } drop comment "voip-ports"
		udp sport { 3478-3481, 16384-16387, 16393-16402 } drop comment "voip-ports"
		meta priority set 1:2 comment "default"
	}
	chain downlink {
		tcp dport 5060-5061 drop comment "sip"
		udp dport 5060-5061 drop comment "sip"
		tcp sport 5060-5061 drop comment "sip"
		udp sport 5060-5061 drop comment "sip"
		meta l4proto udp @ih,32,32 0x2112a442 drop comment "stun"
		udp dport { 3478-3481, 16384-16387, 16393-16402 } drop comment "voip-ports"
		udp sport { 3478-3481, 16384-16387, 16393-16402 } drop comment "voip-ports"
		meta priority set 1:2 comment "default"
	}
}
EOF
