"""Segmentation and receive offloads off (`ethtool -K IFACE gro off gso off tso off`) through
pyroute2's ethtool ioctls, without running ethtool: with them on, veth hands a shaper 64 KB
super-packets instead of the packets on the wire. Call it inside the interface's namespace
(netns.inside): the ioctl reaches the interfaces of the namespace its socket was opened in."""

from __future__ import annotations

# ethtool's groups: `tso` is every TCP segmentation feature the kernel has (newer kernels add
# to it: tx-tcp-accecn-segmentation), `gso` and `gro` one feature each
OFF = ("tx-generic-segmentation", "rx-gro")
TSO = "tx-tcp"  # tx-tcp-segmentation, tx-tcp6-segmentation, tx-tcp-ecn-... (ending -segmentation)


def off(interfaces: list[str]) -> None:
    """TSO, GSO and GRO off on each interface (one it cannot change keeps them: as ethtool's
    failure was, that is not an error)."""
    from pyroute2.ethtool.ioctl import EthtoolError, IoctlEthtool

    for name in interfaces:
        try:
            ethtool = IoctlEthtool(name)
        except (OSError, EthtoolError):
            continue
        try:
            features = ethtool.get_features()
            names = features.keys()  # not a dict: iterating it is not supported
            for feature in names:
                wanted_off = feature in OFF or (feature.startswith(TSO) and feature.endswith("-segmentation"))
                if wanted_off and features.is_available(feature):
                    features.set_value(feature, False)
            ethtool.set_features(features)
        except (OSError, EthtoolError):
            continue
        finally:
            ethtool.close()
