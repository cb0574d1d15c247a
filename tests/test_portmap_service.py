"""The port mapping service's lifecycle, in virtual time with scripted mappers: which protocol it
settles on, renewals, removal on exit, retries, events; and the decisions in leases.py."""

from __future__ import annotations

import random
from contextlib import asynccontextmanager
from types import SimpleNamespace

import pytest
import trio

from torrentish import events as ev
from torrentish.events import EventBus
from torrentish.services.portmap.leases import (
    Lease,
    PortMapFailure,
    parse_protocols,
    renew_delay,
    retry_delay,
)
from torrentish.services.portmap.service import PortMapper, PortMapSettings

PORT = 6881


class ScriptedMapper:
    """A gateway that grants every mapping (to `external_port`) unless `refuse` says otherwise.
    Records (time, call, transport, external port asked for)."""

    def __init__(self, name: str, log: list, *, refuse=(), lifetime: int = 600, external: int | None = None,
                 unmap_hangs: bool = False, slow=()):
        self.name = name
        self.log = log
        self.refuse = set(refuse)  # transports, or ("renew", transport)
        self.lifetime = lifetime
        self.external = external
        self.unmap_hangs = unmap_hangs
        self.slow = set(slow)  # transports whose answer takes 100 s
        self.granted: set[str] = set()

    async def map(self, transport, internal_port, external_port, lifetime):
        renewal = transport in self.granted
        self.log.append((trio.current_time(), self.name, "renew" if renewal else "map", transport, external_port))
        await trio.sleep(100 if transport in self.slow else 0.01)
        if transport in self.refuse or (renewal and ("renew", transport) in self.refuse):
            raise PortMapFailure(f"{self.name} refuses {transport}")
        self.granted.add(transport)
        return Lease(self.name, transport, internal_port, self.external or external_port, "198.51.100.7",
                     self.lifetime)

    async def unmap(self, lease):
        self.log.append((trio.current_time(), self.name, "unmap", lease.transport, lease.external_port))
        if self.unmap_hangs:
            await trio.sleep_forever()
        self.granted.discard(lease.transport)


def opener(mappers: dict[str, ScriptedMapper], log: list, absent=()):
    """open_mapper for PortMapper: the scripted mapper for a protocol group, or a failure."""

    @asynccontextmanager
    async def open_mapper(group):
        log.append((trio.current_time(), group[0], "open", None, None))
        if group[0] in absent:
            raise PortMapFailure(f"no {group[0]} gateway")
        yield mappers[group[0]]

    return open_mapper


def drain(channel) -> list:
    out = []
    while True:
        try:
            out.append(channel.receive_nowait())
        except trio.WouldBlock:
            return out


def mapper_with(mappers, log, absent=(), **settings):
    bus = EventBus()
    external: list = []
    mapper = PortMapper(PortMapSettings(**settings), random.Random(1), bus,
                        on_external=lambda address, port: external.append((address, port)),
                        open_mapper=opener(mappers, log, absent))
    return mapper, bus.subscribe(), external


async def test_maps_tcp_and_udp_renews_half_way_and_removes_on_exit(autojump_clock):
    log: list = []
    mapper, events, external = mapper_with({"pcp": ScriptedMapper("pcp", log)}, log, protocols=("pcp",))
    with trio.move_on_after(1000):
        await mapper.run(PORT)
    calls = [(round(t), call, transport) for t, _, call, transport, _ in log]
    assert calls == [
        (0, "open", None), (0, "map", "tcp"), (0, "map", "udp"),
        (300, "renew", "tcp"), (300, "renew", "udp"), (600, "renew", "tcp"), (600, "renew", "udp"),
        (900, "renew", "tcp"), (900, "renew", "udp"),
        (1000, "unmap", "tcp"), (1000, "unmap", "udp"),
    ]
    published = drain(events)
    assert [(e.kind, e.transport) for e in published] == [("port_mapped", "tcp"), ("port_mapped", "udp")]
    assert published[0] == ev.PortMapped(published[0].time, "pcp", "tcp", PORT, "198.51.100.7", PORT, 600)
    assert external == [("198.51.100.7", PORT), (None, None)]  # the client announces the mapping, then not
    assert mapper.leases == {}


async def test_a_renewal_to_another_port_is_announced(autojump_clock):
    log: list = []
    gateway = ScriptedMapper("natpmp", log)
    mapper, events, external = mapper_with({"natpmp": gateway}, log, protocols=("natpmp",))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(mapper.run, PORT)
        await trio.sleep(100)
        gateway.external = 40001  # the gateway restarted and gives another port
        await trio.sleep(300)
        nursery.cancel_scope.cancel()
    assert [(e.transport, e.external_port) for e in drain(events)] == [
        ("tcp", PORT), ("udp", PORT), ("tcp", 40001), ("udp", 40001)]
    assert external[:2] == [("198.51.100.7", PORT), ("198.51.100.7", 40001)]


async def test_the_next_protocol_is_tried_when_one_has_no_gateway_or_refuses_tcp(autojump_clock):
    log: list = []
    mappers = {"pcp": ScriptedMapper("pcp", log), "upnp": ScriptedMapper("upnp", log, refuse={"tcp"})}
    mapper, events, _ = mapper_with(mappers, log, absent={"pcp"}, protocols=("pcp", "natpmp", "upnp"))
    with trio.move_on_after(10):
        await mapper.run(PORT)
    # PCP and NAT-PMP are one group (one gateway, two versions); UPnP refuses TCP, so UDP is not tried.
    assert [(name, call, transport) for _, name, call, transport, _ in log][:3] == [
        ("pcp", "open", None), ("upnp", "open", None), ("upnp", "map", "tcp")]
    failures = [(e.protocol, e.transport, e.reason) for e in drain(events)]
    assert failures[:2] == [("pcp", None, "no pcp gateway"), ("upnp", "tcp", "upnp refuses tcp")]


async def test_when_nothing_works_it_tries_again_later_and_less_often(autojump_clock):
    log: list = []
    mapper, events, external = mapper_with({}, log, absent={"natpmp", "upnp"}, protocols=("natpmp", "upnp"),
                                           retry_first=60, retry_cap=200)
    with trio.move_on_after(700):
        await mapper.run(PORT)
    opens = [round(t) for t, name, call, *_ in log if name == "natpmp"]
    assert opens == [0, 60, 180, 380, 580]  # waits of 60, 120, then the cap of 200
    assert all(isinstance(e, ev.PortMappingFailed) for e in drain(events))
    assert external == []


async def test_a_udp_refusal_is_reported_but_tcp_keeps_its_mapping(autojump_clock):
    log: list = []
    mapper, events, external = mapper_with({"upnp": ScriptedMapper("upnp", log, refuse={"udp"})}, log,
                                           protocols=("upnp",))
    with trio.move_on_after(100):
        await mapper.run(PORT)
    kinds = [(e.kind, e.transport) for e in drain(events)]
    assert kinds == [("port_mapped", "tcp"), ("port_mapping_failed", "udp")]
    assert [call for *_, call, transport, _ in log if transport == "tcp"] == ["map", "unmap"]


async def test_a_failed_renewal_maps_afresh(autojump_clock):
    log: list = []
    gateway = ScriptedMapper("upnp", log, refuse={("renew", "tcp")})
    mapper, events, _ = mapper_with({"upnp": gateway}, log, protocols=("upnp",))
    with trio.move_on_after(310):
        await mapper.run(PORT)
    calls = [(round(t), call, transport) for t, _, call, transport, _ in log]
    # What is left is removed (the gateway may still hold it) before everything is mapped again.
    assert calls[:6] == [(0, "open", None), (0, "map", "tcp"), (0, "map", "udp"), (300, "renew", "tcp"),
                         (300, "unmap", "tcp"), (300, "unmap", "udp")]
    assert (300, "open", None) in calls  # and straight back to mapping
    assert any(e.kind == "port_mapping_failed" and "renewing" in e.reason for e in drain(events))


async def test_removal_on_exit_is_bounded_when_the_gateway_stops_answering(autojump_clock):
    log: list = []
    mapper, events, external = mapper_with({"pcp": ScriptedMapper("pcp", log, unmap_hangs=True)}, log,
                                           protocols=("pcp",), remove_timeout=2.0)
    start = trio.current_time()
    with trio.move_on_after(50):
        await mapper.run(PORT)
    assert trio.current_time() - start == pytest.approx(52.0)
    failed = [e for e in drain(events) if isinstance(e, ev.PortMappingFailed)]
    assert failed and "removing" in failed[0].reason
    assert external[-1] == (None, None) and mapper.leases == {}


async def test_stopping_while_a_request_is_out_removes_what_it_may_have_made(autojump_clock):
    log: list = []
    mapper, _, _ = mapper_with({"pcp": ScriptedMapper("pcp", log, slow={"udp"})}, log, protocols=("pcp",))
    with trio.move_on_after(5):  # TCP is mapped; the UDP answer has not come back yet
        await mapper.run(PORT)
    assert [(call, transport) for _, _, call, transport, _ in log] == [
        ("open", None), ("map", "tcp"), ("map", "udp"), ("unmap", "udp"), ("unmap", "tcp")]
    assert mapper.asking is None and mapper.leases == {}


async def test_a_permanent_lease_is_refreshed_all_the_same(autojump_clock):
    log: list = []
    mapper, _, _ = mapper_with({"upnp": ScriptedMapper("upnp", log, lifetime=0)}, log, protocols=("upnp",),
                               permanent_refresh=1800)
    with trio.move_on_after(2000):
        await mapper.run(PORT)
    assert [round(t) for t, _, call, transport, _ in log if call == "renew" and transport == "tcp"] == [1800]


def test_the_schedule():
    lease = Lease("pcp", "tcp", 1, 1, None, 7200)
    assert renew_delay(lease, 0.5, 1800) == 3600
    assert renew_delay(Lease("pcp", "tcp", 1, 1, None, 1), 0.5, 1800) == 1.0  # never a busy loop
    assert renew_delay(Lease("upnp", "tcp", 1, 1, None, 0), 0.5, 1800) == 1800
    assert [retry_delay(n, 60, 1800) for n in (1, 2, 3, 10)] == [60, 120, 240, 1800]


def test_protocol_lists():
    assert parse_protocols("upnp, NATPMP,upnp") == ("upnp", "natpmp")
    for bad in ("", "igd", "pcp,,x"):
        with pytest.raises(ValueError, match="pcp, natpmp, upnp"):
            parse_protocols(bad)



async def test_a_bug_in_port_mapping_ends_it_with_a_warning_not_the_transfer(autojump_clock, monkeypatch):
    from torrentish.services.portmap import service as service_module

    async def broken(self, internal_port):
        raise KeyError("oops")

    monkeypatch.setattr(service_module.PortMapper, "run", broken)
    bus = EventBus()
    events = bus.subscribe()
    client = SimpleNamespace(rng=random.Random(1), port=PORT, set_external=lambda *a: None)
    await service_module.port_mapping_service()(client, SimpleNamespace(events=bus))
    [warning] = drain(events)
    assert isinstance(warning, ev.Warning) and "internal error" in warning.message


def test_the_command_line_options_give_the_service_or_nothing():
    import typer

    from torrentish.cli.app import port_mapping_services, port_mapping_settings

    settings = port_mapping_settings(True, "upnp,pcp")
    assert settings.protocols == ("upnp", "pcp") and len(port_mapping_services(settings)) == 1
    assert port_mapping_settings(False, "pcp,natpmp,upnp") is None and port_mapping_services(None) == []
    with pytest.raises(typer.BadParameter, match="pcp, natpmp, upnp"):
        port_mapping_settings(True, "miniupnp")
