//! Which instance of a `pose-cloud` consumer group holds which camera, read from the group itself.
//!
//! Several instances in one group share the partitions, hence the cameras (README "Scaling
//! out"). Each instance puts the URL it is reached at (`http.public_url`) in its Kafka
//! `client.id`; Kafka's group description lists every member's client id and assigned
//! partitions, and a camera's partition is CRC-32 of its id modulo the partition count (the
//! edge producer's `consistent_random` partitioner, librdkafka's default). So any instance can
//! tell where a camera is shown and redirect a viewer there: no extra service, no shared state
//! beyond what Kafka keeps anyway. Answers are cached for [`CACHE_FOR`].

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pose_shared::kafka::{ClientLog, KafkaSettings, QuietContext};
use rdkafka::consumer::{BaseConsumer, Consumer};

/// The prefix of an instance's Kafka client id; the rest is its public URL.
pub const CLIENT_ID_PREFIX: &str = "pose-cloud ";
/// How long one look at the group is used.
pub const CACHE_FOR: Duration = Duration::from_secs(2);

/// The client id of an instance reached at `public_url`.
pub fn client_id(public_url: Option<&str>) -> String {
    match public_url {
        Some(url) => format!("{CLIENT_ID_PREFIX}{}", url.trim_end_matches('/')),
        None => CLIENT_ID_PREFIX.trim_end().to_owned(),
    }
}

/// The partition a camera's messages go to among `partitions` (librdkafka's
/// `consistent_random` partitioner for a non-empty key: CRC-32 of the key).
pub fn partition_of(camera: &str, partitions: u32) -> i32 {
    (crc32fast::hash(camera.as_bytes()) % partitions.max(1)) as i32
}

/// Topics and their partitions in a member's assignment (Kafka's consumer protocol
/// `ConsumerProtocolAssignment`: version i16, then topics as (string, [i32])). None when the
/// bytes are not one.
pub fn parse_assignment(bytes: &[u8]) -> Option<BTreeMap<String, Vec<i32>>> {
    let mut at = 0usize;
    let mut take = |n: usize| -> Option<&[u8]> {
        let s = bytes.get(at..at.checked_add(n)?)?;
        at += n;
        Some(s)
    };
    let _version = i16::from_be_bytes(take(2)?.try_into().ok()?);
    let topics = i32::from_be_bytes(take(4)?.try_into().ok()?);
    let mut out = BTreeMap::new();
    for _ in 0..topics.max(0) {
        let len = i16::from_be_bytes(take(2)?.try_into().ok()?);
        let name = std::str::from_utf8(take(usize::try_from(len).ok()?)?)
            .ok()?
            .to_owned();
        let n = i32::from_be_bytes(take(4)?.try_into().ok()?);
        let mut parts = Vec::with_capacity(usize::try_from(n).ok()?.min(1024));
        for _ in 0..n.max(0) {
            parts.push(i32::from_be_bytes(take(4)?.try_into().ok()?));
        }
        out.insert(name, parts);
    }
    Some(out)
}

/// The group's view: partition of the keypoint topic → public URL of the member holding it.
struct View {
    at: Instant,
    partitions: u32,
    owners: BTreeMap<i32, String>,
}

/// Looks camera owners up in the group (blocking Kafka calls run on the blocking pool).
pub struct Directory {
    consumer: BaseConsumer<QuietContext>,
    group: String,
    topic: String,
    me: String,
    view: Mutex<Option<View>>,
}

impl Directory {
    /// For the instance reached at `public_url` in `group`, reading `keypoints_topic`.
    pub fn new(
        kafka: &KafkaSettings,
        group: &str,
        keypoints_topic: &str,
        public_url: &str,
    ) -> Result<Self, rdkafka::error::KafkaError> {
        let consumer = kafka
            .client_config("pose-cloud-directory")
            .create_with_context(QuietContext(ClientLog::new("directory")))?;
        Ok(Self {
            consumer,
            group: group.to_owned(),
            topic: keypoints_topic.to_owned(),
            me: public_url.trim_end_matches('/').to_owned(),
            view: Mutex::new(None),
        })
    }

    /// The public URL of another instance that holds `camera`, if the group says so. None when
    /// this instance holds it, nobody does, or Kafka does not answer.
    pub async fn elsewhere(self: &std::sync::Arc<Self>, camera: &str) -> Option<String> {
        let fresh = self
            .view
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|v| v.at.elapsed() < CACHE_FOR);
        if !fresh {
            let me = self.clone();
            let view = tokio::task::spawn_blocking(move || me.look()).await.ok()?;
            *self.view.lock().unwrap_or_else(|p| p.into_inner()) = view;
        }
        let guard = self.view.lock().unwrap_or_else(|p| p.into_inner());
        let view = guard.as_ref()?;
        let owner = view.owners.get(&partition_of(camera, view.partitions))?;
        (owner != &self.me).then(|| owner.clone())
    }

    fn look(&self) -> Option<View> {
        let timeout = Duration::from_secs(2);
        let md = self
            .consumer
            .fetch_metadata(Some(&self.topic), timeout)
            .ok()?;
        let partitions = md.topics().first()?.partitions().len() as u32;
        let groups = self
            .consumer
            .fetch_group_list(Some(&self.group), timeout)
            .ok()?;
        let mut owners = BTreeMap::new();
        for member in groups.groups().first()?.members() {
            let Some(url) = member.client_id().strip_prefix(CLIENT_ID_PREFIX) else {
                continue;
            };
            let Some(assigned) = member.assignment().and_then(parse_assignment) else {
                continue;
            };
            for p in assigned.get(&self.topic).into_iter().flatten() {
                owners.insert(*p, url.to_owned());
            }
        }
        Some(View {
            at: Instant::now(),
            partitions,
            owners,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_parse_and_garbage_does_not() {
        let mut b = vec![0, 1, 0, 0, 0, 2];
        for (topic, parts) in [
            ("pose.keypoints", vec![0i32, 3]),
            ("pose.frames", vec![0, 3]),
        ] {
            b.extend_from_slice(&(topic.len() as i16).to_be_bytes());
            b.extend_from_slice(topic.as_bytes());
            b.extend_from_slice(&(parts.len() as i32).to_be_bytes());
            for p in parts {
                b.extend_from_slice(&p.to_be_bytes());
            }
        }
        b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]); // no user data
        let parsed = parse_assignment(&b).unwrap();
        assert_eq!(parsed["pose.keypoints"], vec![0, 3]);
        assert_eq!(parsed["pose.frames"], vec![0, 3]);
        for cut in 0..b.len() - 4 {
            let _ = parse_assignment(&b[..cut]); // never panics
        }
        assert!(parse_assignment(&[0, 0, 0x7f, 0xff, 0xff, 0xff]).is_none());
    }

    #[test]
    fn partition_is_crc32_of_the_camera() {
        // CRC-32 ("123456789") = 0xCBF43926, the standard check value.
        assert_eq!(partition_of("123456789", 1 << 31), 0x4BF4_3926);
        assert_eq!(partition_of("kitchen", 1), 0);
        assert_eq!(client_id(Some("http://a:1/")), "pose-cloud http://a:1");
        assert_eq!(client_id(None), "pose-cloud");
    }
}
