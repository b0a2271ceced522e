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
	comment "testbed plan 2d545f7cc15de396"
	chain forward {
		type filter hook forward priority 0; policy accept;
		iifname "in0" oifname "out0" jump uplink
		iifname "out0" oifname "in0" jump downlink
		iifname "out0" oifname "out0" meta priority set 1:3 comment "between hosts abroad: no border crossed"
		iifname "in0" oifname "in0" meta priority set 1:3 comment "between hosts inside: no border crossed"
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
