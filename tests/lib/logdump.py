"""Dumps the batch framing of the aggregators' two logs, for post-mortems of chaos runs.

One line per record of civicpulse.aggregator.changelog.v1 or civicpulse.aggregates.v1:
log partition and offset, the source partition and offset it covers, its BatchHeader
(epoch, owner, batch, index, snapshot, count) and the writing instance; aggregates'
progress records also show their total events. Decodes the protobuf wire format by hand
(Debian's python3 has no protobuf module installed by `make deps`); field numbers as in
proto/civicpulse/v1/{batch,checkpoint,aggregate}.proto.
"""
import struct


def _varint(buf, i):
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def fields(buf):
    """(field number, wire type, value) of one message; nested messages stay bytes."""
    i = 0
    out = []
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value = struct.unpack_from("<Q", buf, i)[0]
            i += 8
        elif wire == 2:
            n, i = _varint(buf, i)
            value = bytes(buf[i:i + n])
            i += n
        elif wire == 5:
            value = struct.unpack_from("<I", buf, i)[0]
            i += 4
        else:
            raise ValueError("wire type %d" % wire)
        out.append((number, wire, value))
    return out


def header(buf):
    h = {"epoch": 0, "owner": 0, "batch": 0, "index": 0, "snapshot": False, "count": 0}
    names = {1: "epoch", 2: "owner", 3: "batch", 4: "index", 5: "snapshot", 6: "count"}
    for number, _, value in fields(buf):
        if number in names:
            h[names[number]] = value
    h["snapshot"] = bool(h["snapshot"])
    h["owner"] = "%016x" % h["owner"]
    return h


def describe(log, value):
    """A dict of the record's framing; `log` is "changelog" or "aggregates"."""
    header_field, producer_field = (4, 5) if log == "changelog" else (8, 4)
    d = {"source_partition": 0, "source_offset": 0, "producer": "", "body": ""}
    for number, _, v in fields(value):
        if number == 2:
            d["source_partition"] = v
        elif number == 3:
            d["source_offset"] = v
        elif number == header_field:
            d.update(header(v))
        elif number == producer_field:
            d["producer"] = v.decode(errors="replace")
        elif log == "aggregates" and number in (6, 7, 9, 10):
            d["body"] = {6: "cell", 7: "progress", 9: "history", 10: "cells"}[number]
            if number == 7:
                # PartitionProgress.totals (AreaKindTotals: area=1, kind=2, events=3)
                events = 0
                for n2, _, t in fields(v):
                    if n2 == 3 and isinstance(t, bytes):
                        for n3, _, e in fields(t):
                            if n3 == 3:
                                events += e
                d["body"] = "progress events=%d" % events
    return d


def dump(brokers, topic, log, path, timeout=20.0):
    """Reads `topic` from its beginning to its end and writes one line per record."""
    from confluent_kafka import Consumer, TopicPartition  # python3-confluent-kafka

    c = Consumer({"bootstrap.servers": brokers, "group.id": "civicpulse-logdump",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        meta = c.list_topics(topic, timeout=timeout)
        parts = sorted(meta.topics[topic].partitions) if topic in meta.topics else []
        ends = {}
        for p in parts:
            low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
            if high > low:
                ends[p] = high
        c.assign([TopicPartition(topic, p, 0) for p in ends])
        lines = []
        import time
        deadline = time.time() + timeout * 3
        while ends and time.time() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            try:
                d = describe(log, m.value())
            except (ValueError, IndexError, struct.error) as e:
                d = {"error": str(e)}
            lines.append((m.partition(), m.offset(), d))
            if m.offset() + 1 >= ends.get(m.partition(), 0):
                ends.pop(m.partition(), None)
    finally:
        c.close()
    with open(path, "w") as f:
        for p, o, d in sorted(lines, key=lambda x: (x[0], x[1])):
            if "error" in d:
                f.write("%d %d undecodable: %s\n" % (p, o, d["error"]))
                continue
            f.write("%d %d src=%d@%d e=%d o=%s b=%d i=%d%s%s %s %s\n" % (
                p, o, d["source_partition"], d["source_offset"], d["epoch"], d["owner"][-6:],
                d["batch"], d["index"], " SNAP" if d["snapshot"] else "",
                " n=%d" % d["count"] if d["count"] else "", d["producer"], d["body"]))
    return path
