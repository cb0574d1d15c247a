"""LEDBAT congestion control: the window follows the queueing delay around the 100 ms target."""

from hypothesis import given
from hypothesis import strategies as st

from torrentish.core.ledbat import GAIN_BYTES, TARGET_US, Ledbat


def _settled(cwnd=100_000) -> Ledbat:
    cc = Ledbat(1400)
    cc.slow_start = False
    cc.cwnd = cwnd
    return cc


def test_empty_queue_grows_by_at_most_the_gain_per_window():
    cc = _settled()
    cc.add_delay_sample(5_000, 0.0)  # base delay
    for _ in range(100):
        cc.on_ack(1000, window_limited=True)  # 100 acks of 1000 bytes = one window of 100 000
    assert 100_000 < cc.cwnd <= 100_000 + GAIN_BYTES + 100


def test_delay_above_target_shrinks_and_at_target_holds():
    cc = _settled()
    cc.add_delay_sample(5_000, 0.0)
    cc.add_delay_sample(5_000 + 2 * TARGET_US, 0.1)
    for _ in range(3):
        cc.add_delay_sample(5_000 + 2 * TARGET_US, 0.2)
    cc.on_ack(10_000, window_limited=True)
    assert cc.cwnd < 100_000
    held = _settled()
    held.add_delay_sample(0, 0.0)
    for _ in range(3):
        held.add_delay_sample(TARGET_US, 0.1)
    held.on_ack(10_000, window_limited=True)
    assert held.cwnd == 100_000


def test_an_unused_window_does_not_grow():
    cc = _settled()
    cc.add_delay_sample(1_000, 0.0)
    cc.on_ack(50_000, window_limited=False)
    assert cc.cwnd == 100_000


def test_slow_start_doubles_until_delay_builds_then_loss_halves():
    cc = Ledbat(1400)
    cc.add_delay_sample(1_000, 0.0)
    start = cc.cwnd
    cc.on_ack(start, window_limited=True)
    assert cc.cwnd == 2 * start
    for _ in range(3):
        cc.add_delay_sample(1_000 + TARGET_US, 0.5)
    cc.on_ack(1000, window_limited=True)
    assert not cc.slow_start
    before = cc.cwnd
    cc.on_loss()
    assert cc.cwnd == max(cc.min_cwnd, before // 2)
    cc.on_timeout()
    assert cc.cwnd == 1400


def test_base_delay_ages_out_after_the_history():
    cc = _settled()
    cc.add_delay_sample(1_000, 0.0)
    for minute in range(1, 14):
        cc.add_delay_sample(50_000, minute * 60.0)
    assert cc.base_delay() == 50_000  # the 1 ms minute is older than 13 minutes


def test_samples_compare_across_the_32_bit_wrap():
    cc = _settled()
    cc.add_delay_sample(0xFFFFFF00, 0.0)
    cc.add_delay_sample(0x100, 0.1)  # 512 us later on the wrapped clock
    cc.add_delay_sample(0x100, 0.1)
    cc.add_delay_sample(0x100, 0.1)
    assert cc.base_delay() == 0xFFFFFF00
    assert cc.queueing_delay_us == 0x200


@given(st.lists(st.tuples(st.integers(0, 0xFFFFFFFF), st.integers(0, 200_000), st.booleans(),
                          st.sampled_from(["ack", "loss", "timeout"])), max_size=60))
def test_window_stays_within_bounds(events):
    cc = Ledbat(1400)
    for i, (sample, acked, limited, kind) in enumerate(events):
        cc.add_delay_sample(sample, i * 0.5)
        if kind == "ack":
            cc.on_ack(acked, limited)
        elif kind == "loss":
            cc.on_loss()
        else:
            cc.on_timeout()
        assert cc.packet_size <= cc.cwnd <= cc.max_cwnd
        assert 0 <= cc.queueing_delay_us < 2**31
