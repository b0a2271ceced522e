"""Gateway mode: this machine becomes the censor for real devices on one of its interfaces.

The profile's nft table classifies forwarded packets as in a topology's censor and marks
each one that crosses the border; a tc filter on each real interface's egress redirects
the marked packets into an ifb that holds the profile's htb tree for that direction.
Packets reach the ifb after nftables, so every match (flows, flags, byte counts) means
what it means in a topology, and the real interfaces keep their own root qdiscs: only a
clsact qdisc and one filter are added to each.
"""
