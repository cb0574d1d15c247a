"""Port mapping: asking the NAT gateway to forward our listen port (docs/nat.md).

Pure parts (no trio, sockets or clocks):
    natpmp.py       NAT-PMP (RFC 6886) and PCP MAP (RFC 6887) messages
    upnp.py         UPnP IGD: SSDP search and replies, the device description, SOAP actions
    leases.py       leases, the mapper interface, when to renew and retry
    gateway.py      the default gateway from /proc/net/route
On the network:
    pmp_client.py   NAT-PMP/PCP over UDP to the gateway
    upnp_client.py  SSDP multicast and SOAP over HTTP (httpx)
    service.py      PortMapper and port_mapping_service: map, renew, remove, publish events

This file imports nothing, so the command line can read `leases.parse_protocols` without trio.
"""
