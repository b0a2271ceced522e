# profile ru-2025-mobile-whitelist-sni: run in the censor node (testbed exec censor -- sh)
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
	comment "testbed plan e4e68b63f8ed07f1"
	counter unlisted.up { }
	counter unlisted.up.dropped { }
	counter unlisted.down { }
	counter unlisted.down.dropped { }
	counter udp.up { }
	counter udp.up.dropped { }
	counter udp.down { }
	counter udp.down.dropped { }
	counter default.up { }
	counter default.down { }
	chain forward {
		type filter hook forward priority 0; policy accept;
		meta mark & 0x80000000 == 0x80000000 ct mark set ct mark | 0x80000000 comment "reader: decided"
		meta mark & 0x40000000 == 0x40000000 ct mark set ct mark | 0x40000000 comment "reader: tls_sni of unlisted"
		iifname "in0" oifname "out0" jump uplink
		iifname "out0" oifname "in0" jump downlink
		iifname "out0" oifname "out0" meta priority set 1:3 comment "between hosts abroad: no border crossed"
		iifname "in0" oifname "in0" meta priority set 1:3 comment "between hosts inside: no border crossed"
	}
	chain uplink {
		meta l4proto tcp ct mark & 0xc0000000 == 0x80000000 counter name "unlisted.up" counter name "unlisted.up.dropped" drop comment "unlisted"
		meta l4proto udp counter name "udp.up" counter name "udp.up.dropped" drop comment "udp"
		meta priority set 1:2 counter name "default.up" comment "default"
	}
	chain downlink {
		meta l4proto tcp ct mark & 0xc0000000 == 0x80000000 counter name "unlisted.down" counter name "unlisted.down.dropped" drop comment "unlisted"
		meta l4proto udp counter name "udp.down" counter name "udp.down.dropped" drop comment "udp"
		meta priority set 1:2 counter name "default.down" comment "default"
	}
}
EOF
# the reader: each flow's first client data packets go to NFQUEUE 0, read in userspace, until it marks the flow decided
python3 -m testbed.classify.reader spec.json .  # spec.json: {"queue":0,"fail":"closed","decided_bit":2147483648,"tests":[{"bit":1073741824,"kind":"tls_sni","patterns":["gosuslugi.ru","*.gosuslugi.ru","ya.ru","*.ya.ru","yandex.ru","*.yandex.ru","vk.com","*.vk.com","ozon.ru","*.ozon.ru","wildberries.ru","*.wildberries.ru","max.ru","*.max.ru"],"packets":3,"reassembly":"full","name":"tls_sni of unlisted"}]}
# where nft has `queue`:
nft add chain inet testbed read '{ type filter hook forward priority -150; }'
nft add rule inet testbed read iifname '"in0"' oifname '"out0"' meta l4proto tcp tcp flags '&' '(syn' '|' 'rst)' == 0 ct direction original ct mark '&' 0x80000000 == 0 ct original packets '>=' 3 queue num 0
nft add rule inet testbed read iifname '"out0"' oifname '"in0"' meta l4proto tcp tcp flags '&' '(syn' '|' 'rst)' == 0 ct direction original ct mark '&' 0x80000000 == 0 ct original packets '>=' 3 queue num 0
# or, on a kernel without it (CONFIG_NFT_QUEUE unset), the xt NFQUEUE target:
# iptables -t mangle -N testbed-read
# iptables -t mangle -A testbed-read -i in0 -o out0 -p tcp --tcp-flags SYN,RST NONE -m conntrack --ctdir ORIGINAL -m connmark --mark 0/0x80000000 -m connbytes --connbytes 3: --connbytes-dir original --connbytes-mode packets -j NFQUEUE --queue-num 0
# iptables -t mangle -A testbed-read -i out0 -o in0 -p tcp --tcp-flags SYN,RST NONE -m conntrack --ctdir ORIGINAL -m connmark --mark 0/0x80000000 -m connbytes --connbytes 3: --connbytes-dir original --connbytes-mode packets -j NFQUEUE --queue-num 0
# iptables -t mangle -I FORWARD -j testbed-read
# ip6tables -t mangle -N testbed-read
# ip6tables -t mangle -A testbed-read -i in0 -o out0 -p tcp --tcp-flags SYN,RST NONE -m conntrack --ctdir ORIGINAL -m connmark --mark 0/0x80000000 -m connbytes --connbytes 3: --connbytes-dir original --connbytes-mode packets -j NFQUEUE --queue-num 0
# ip6tables -t mangle -A testbed-read -i out0 -o in0 -p tcp --tcp-flags SYN,RST NONE -m conntrack --ctdir ORIGINAL -m connmark --mark 0/0x80000000 -m connbytes --connbytes 3: --connbytes-dir original --connbytes-mode packets -j NFQUEUE --queue-num 0
# ip6tables -t mangle -I FORWARD -j testbed-read
