"""The values CARP fixes, and the address types, written once for every layer.

The core, the platform adapters, the configuration, the lab and the tools all need the same few
facts (CARP's IP protocol number, its multicast groups, the TTL it is sent with). Each is
defined here only, so a layer can never disagree with another about them; everything may import
:mod:`pycarp.core`, so this module is where they live.
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface

CARP_PROTOCOL = 112  # IP protocol number, shared with VRRP
CARP_GROUP_V4 = ipaddress.IPv4Address("224.0.0.18")
CARP_GROUP_V6 = ipaddress.IPv6Address("ff02::12")
CARP_TTL = 255  # sent with 255; a multicast advert with less crossed a router and is dropped
MAX_VHID = 255
