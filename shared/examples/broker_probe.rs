//! Broker probe: checks, with the same librdkafka the programs use, what a Kafka-protocol broker
//! really supports. Used to choose the local broker (see README "Local broker").
//!
//! `cargo run -p pose-shared --features kafka --example broker_probe -- [BROKERS]`
//!
//! Checks: topic creation through the Admin API, produce/consume of 150 KB records (lz4,
//! acks=all), consumer-group assignment time, manual commit read back by a new consumer,
//! high/low watermarks, `offsets_for_times`, and end-to-end latency with `fetch.wait.max.ms=10`.
//! Prints one line per check and exits 1 if any check failed.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

const RECORDS: usize = 30;
const RECORD_BYTES: usize = 150 * 1024;

fn main() -> anyhow::Result<()> {
    let brokers = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9092".to_owned());
    let topic = format!("probe.{}", std::process::id());
    let mut failures = 0;
    let mut report = |name: &str, ok: bool, detail: String| {
        println!(
            "{:<5} {name:<28} {detail}",
            if ok { "PASS" } else { "FAIL" }
        );
        if !ok {
            failures += 1;
        }
    };
    let base = |extra: &[(&str, &str)]| {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &brokers);
        for (k, v) in extra {
            c.set(*k, *v);
        }
        c
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    // 1. Topic creation through the Admin API (CreateTopics).
    let admin: AdminClient<DefaultClientContext> = base(&[]).create()?;
    let created = rt.block_on(admin.create_topics(
        &[NewTopic::new(&topic, 3, TopicReplication::Fixed(1))],
        &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
    ));
    let ok = matches!(&created, Ok(r) if r.iter().all(|x| x.is_ok()));
    report("admin create_topics", ok, format!("{created:?}"));

    // 2. Produce 150 KB records with lz4 and acks=all, all to partition 0, with timestamps
    //    1 s apart (so offsets_for_times has something to find).
    let producer: ThreadedProducer<DefaultProducerContext> = base(&[
        ("acks", "all"),
        ("compression.type", "lz4"),
        ("linger.ms", "5"),
        ("enable.idempotence", "true"),
    ])
    .create()?;
    let payload: Vec<u8> = (0..RECORD_BYTES).map(|i| (i * 7 % 251) as u8).collect();
    let t0_ms = 1_700_000_000_000i64;
    let start = Instant::now();
    for i in 0..RECORDS {
        producer
            .send(
                BaseRecord::to(&topic)
                    .partition(0)
                    .key("cam")
                    .payload(&payload)
                    .timestamp(t0_ms + i as i64 * 1000),
            )
            .map_err(|(e, _)| anyhow::anyhow!("enqueue: {e}"))?;
    }
    let flushed = producer.flush(Duration::from_secs(30));
    let secs = start.elapsed().as_secs_f64();
    report(
        "produce 150KB lz4 acks=all",
        flushed.is_ok(),
        format!(
            "{RECORDS} records in {:.0} ms ({:.0} MB/s) {flushed:?}",
            secs * 1e3,
            (RECORDS * RECORD_BYTES) as f64 / secs / 1e6
        ),
    );

    // 3. Consume in a group; time to the first record (group join + assignment + fetch).
    let group = format!("probe-group-{}", std::process::id());
    let consumer: BaseConsumer = base(&[
        ("group.id", &group),
        ("enable.auto.commit", "false"),
        ("auto.offset.reset", "earliest"),
        ("session.timeout.ms", "6000"),
        ("fetch.wait.max.ms", "10"),
    ])
    .create()?;
    consumer.subscribe(&[&topic])?;
    let start = Instant::now();
    let mut got = 0;
    let mut first_ms = None;
    let mut intact = true;
    while got < RECORDS && start.elapsed() < Duration::from_secs(60) {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m?;
            first_ms.get_or_insert(start.elapsed().as_millis());
            intact &= m.payload() == Some(payload.as_slice());
            got += 1;
        }
    }
    report(
        "group consume 150KB",
        got == RECORDS && intact,
        format!("{got}/{RECORDS} records, intact={intact}, first after {first_ms:?} ms"),
    );

    // 4. Manual commit, read back by a second consumer of the same group.
    let committed = consumer.commit_consumer_state(CommitMode::Sync);
    drop(consumer);
    let reader: BaseConsumer =
        base(&[("group.id", &group), ("enable.auto.commit", "false")]).create()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(&topic, 0);
    let back = reader.committed_offsets(tpl, Duration::from_secs(10));
    let offset = back
        .as_ref()
        .ok()
        .and_then(|t| t.find_partition(&topic, 0))
        .map(|p| p.offset());
    report(
        "manual commit read back",
        committed.is_ok() && offset == Some(Offset::Offset(RECORDS as i64)),
        format!("commit {committed:?}, committed offset {offset:?}"),
    );

    // 5. Watermarks.
    let wm = reader.fetch_watermarks(&topic, 0, Duration::from_secs(10));
    report(
        "watermarks",
        matches!(wm, Ok((0, h)) if h == RECORDS as i64),
        format!("{wm:?}, expected (0, {RECORDS})"),
    );

    // 6. offsets_for_times: the record stamped t0 + 10 s is offset 10; a future time is -1/end.
    let mut q = TopicPartitionList::new();
    q.add_partition_offset(&topic, 0, Offset::Offset(t0_ms + 10_000))?;
    let r = reader.offsets_for_times(q, Duration::from_secs(10));
    let found = r
        .as_ref()
        .ok()
        .and_then(|t| t.find_partition(&topic, 0))
        .map(|p| p.offset());
    report(
        "offsets_for_times",
        found == Some(Offset::Offset(10)),
        format!("{found:?}, expected Offset(10)"),
    );

    // 7. Latency: one small record at a time, produce -> tailing consumer, fetch.wait.max.ms=10.
    let lat_topic = format!("{topic}.latency");
    let _ = rt.block_on(admin.create_topics(
        &[NewTopic::new(&lat_topic, 1, TopicReplication::Fixed(1))],
        &AdminOptions::new(),
    ));
    let tail: BaseConsumer = base(&[
        ("group.id", &format!("{group}-lat")),
        ("auto.offset.reset", "earliest"),
        ("fetch.wait.max.ms", "10"),
        ("session.timeout.ms", "6000"),
    ])
    .create()?;
    tail.subscribe(&[&lat_topic])?;
    let fast: ThreadedProducer<DefaultProducerContext> = base(&[("linger.ms", "0")]).create()?;
    // Warm up: wait for the assignment with a first record.
    fast.send(BaseRecord::<str, [u8]>::to(&lat_topic).payload(&[0u8][..]))
        .map_err(|(e, _)| anyhow::anyhow!("{e}"))?;
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_secs(30) {
        if let Some(Ok(_)) = tail.poll(Duration::from_millis(50)) {
            break;
        }
    }
    let mut lats = Vec::new();
    for _ in 0..50 {
        let sent = Instant::now();
        fast.send(BaseRecord::<str, [u8]>::to(&lat_topic).payload(&[1u8][..]))
            .map_err(|(e, _)| anyhow::anyhow!("{e}"))?;
        loop {
            match tail.poll(Duration::from_millis(500)) {
                Some(Ok(_)) => break,
                _ if sent.elapsed() > Duration::from_secs(5) => break,
                _ => {}
            }
        }
        lats.push(sent.elapsed().as_secs_f64() * 1e3);
    }
    lats.sort_by(f64::total_cmp);
    report(
        "latency fetch.wait.max.ms=10",
        lats[lats.len() / 2] < 100.0,
        format!(
            "p50 {:.1} ms, p90 {:.1} ms over 50 records",
            lats[25], lats[45]
        ),
    );

    let _ = rt.block_on(admin.delete_topics(&[&topic, &lat_topic], &AdminOptions::new()));
    println!("{failures} failed");
    if failures > 0 {
        std::process::exit(1);
    }
    Ok(())
}
