# profile ru-2023-vpn-block: run in the censor node (testbed exec censor -- sh)
sysctl -qw net.netfilter.nf_conntrack_acct=1
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
	comment "testbed plan 41d2c5de22b7b20e"
	counter wireguard-handshake.up { }
	counter wireguard-handshake.down { }
	counter openvpn-handshake.up { }
	counter openvpn-handshake.down { }
	counter vpn-flows.up { }
	counter vpn-flows.up.dropped { }
	counter vpn-flows.down { }
	counter vpn-flows.down.dropped { }
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
		udp length 156 @ih,0,32 0x01000000 ct mark set ct mark | 0x00000001 meta priority set 1:10 counter name "wireguard-handshake.up" accept comment "wireguard-handshake"
		udp length 22-136 @ih,0,8 0x38 ct mark set ct mark | 0x00000001 meta priority set 1:11 counter name "openvpn-handshake.up" accept comment "openvpn-handshake"
		ct mark & 0x00000001 == 0x00000001 ct packets > 8 counter name "vpn-flows.up" counter name "vpn-flows.up.dropped" drop comment "vpn-flows"
		meta priority set 1:2 counter name "default.up" comment "default"
	}
	chain downlink {
		udp length 156 @ih,0,32 0x01000000 ct mark set ct mark | 0x00000001 meta priority set 1:10 counter name "wireguard-handshake.down" accept comment "wireguard-handshake"
		udp length 22-136 @ih,0,8 0x38 ct mark set ct mark | 0x00000001 meta priority set 1:11 counter name "openvpn-handshake.down" accept comment "openvpn-handshake"
		ct mark & 0x00000001 == 0x00000001 ct packets > 8 counter name "vpn-flows.down" counter name "vpn-flows.down.dropped" drop comment "vpn-flows"
		meta priority set 1:2 counter name "default.down" comment "default"
	}
}
EOF
