//! Creates the topics with their partitions, replication and retention (`pose-cloud topics`):
//! keypoints and frames, and the events topic that analytics write (events.rs).
//!
//! The cloud owns the topics: both must have the same partition count and be keyed by camera id,
//! so that one instance of a consumer group holds both halves of a camera (see README "Scaling").
//! An existing topic is kept and its retention settings are brought to the plan's values, so the
//! command can run at every start (`scripts/broker.sh start` does).

use std::time::Duration;

use pose_shared::kafka::{KafkaSettings, QuietContext};
use pose_shared::topics::Topics;
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::types::RDKafkaErrorCode;

/// Frames are worthless after hours: 6 h (the ansible role's value).
pub const FRAMES_RETENTION_MS: u64 = 6 * 3600 * 1000;
/// Keypoints are the product, kept for days: 7 d (the ansible role's value).
pub const KEYPOINTS_RETENTION_MS: u64 = 7 * 24 * 3600 * 1000;

/// What to create.
#[derive(Debug, Clone)]
pub struct TopicPlan {
    pub name: String,
    pub partitions: i32,
    pub replication: i32,
    /// Topic-level settings (`retention.ms`, `segment.ms`, `min.insync.replicas`, ...).
    pub config: Vec<(String, String)>,
}

impl TopicPlan {
    /// The deployment's pair: frames for hours, keypoints for days, both with `partitions`
    /// partitions; with replication of 3 or more the keypoint topic requires two in-sync
    /// replicas for an acknowledged write (`acks=all` on the edge), so losing one broker loses
    /// no acknowledged keypoint.
    pub fn pair(
        topics: &Topics,
        partitions: i32,
        replication: i32,
        frames_retention_ms: u64,
        keypoints_retention_ms: u64,
    ) -> [TopicPlan; 2] {
        // Segments a tenth of the retention (at least a minute), so deletion is not held back
        // by one huge active segment.
        let segment = |retention: u64| (retention / 10).max(60_000).to_string();
        let mut keypoints_config = vec![
            (
                "retention.ms".to_owned(),
                keypoints_retention_ms.to_string(),
            ),
            ("segment.ms".to_owned(), segment(keypoints_retention_ms)),
        ];
        if replication >= 3 {
            keypoints_config.push(("min.insync.replicas".to_owned(), "2".to_owned()));
        }
        [
            TopicPlan {
                name: topics.frames.clone(),
                partitions,
                replication,
                config: vec![
                    ("retention.ms".to_owned(), frames_retention_ms.to_string()),
                    ("segment.ms".to_owned(), segment(frames_retention_ms)),
                ],
            },
            TopicPlan {
                name: topics.keypoints.clone(),
                partitions,
                replication,
                config: keypoints_config,
            },
        ]
    }
}

impl TopicPlan {
    /// The events topic (`pose.events`): JSON events keyed by camera id, written by analytics
    /// and shown by the viewer; kept `retention_ms`.
    pub fn events(name: &str, partitions: i32, replication: i32, retention_ms: u64) -> TopicPlan {
        let mut config = vec![
            ("retention.ms".to_owned(), retention_ms.to_string()),
            (
                "segment.ms".to_owned(),
                (retention_ms / 10).max(60_000).to_string(),
            ),
        ];
        if replication >= 3 {
            config.push(("min.insync.replicas".to_owned(), "2".to_owned()));
        }
        TopicPlan {
            name: name.to_owned(),
            partitions,
            replication,
            config,
        }
    }
}

/// What happened to one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Created,
    /// It existed; its settings were set to the plan's.
    Updated,
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("cannot create the Kafka admin client: {0}")]
    Client(#[source] rdkafka::error::KafkaError),
    #[error("the broker did not answer the request for {topic}: {source}")]
    Request {
        topic: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("topic {topic}: {code}")]
    Refused {
        topic: String,
        code: RDKafkaErrorCode,
    },
}

/// Creates each planned topic, or brings an existing one's settings to the plan.
pub async fn ensure(
    kafka: &KafkaSettings,
    plans: &[TopicPlan],
    timeout: Duration,
) -> Result<Vec<(String, Outcome)>, AdminError> {
    let admin: AdminClient<QuietContext> = kafka
        .client_config("pose-cloud-admin")
        .create_with_context(QuietContext(pose_shared::kafka::ClientLog::new("admin")))
        .map_err(AdminError::Client)?;
    let opts = AdminOptions::new()
        .operation_timeout(Some(timeout))
        .request_timeout(Some(timeout));
    let mut out = Vec::with_capacity(plans.len());
    for plan in plans {
        let mut new = NewTopic::new(
            &plan.name,
            plan.partitions,
            TopicReplication::Fixed(plan.replication),
        );
        for (k, v) in &plan.config {
            new = new.set(k, v);
        }
        let request = |source| AdminError::Request {
            topic: plan.name.clone(),
            source,
        };
        let result = admin
            .create_topics([&new], &opts)
            .await
            .map_err(request)?
            .into_iter()
            .next();
        match result {
            Some(Ok(_)) => out.push((plan.name.clone(), Outcome::Created)),
            Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => {
                let mut alter = AlterConfig::new(ResourceSpecifier::Topic(&plan.name));
                for (k, v) in &plan.config {
                    alter = alter.set(k, v);
                }
                match admin
                    .alter_configs([&alter], &opts)
                    .await
                    .map_err(request)?
                    .into_iter()
                    .next()
                {
                    Some(Err((_, code))) => {
                        return Err(AdminError::Refused {
                            topic: plan.name.clone(),
                            code,
                        });
                    }
                    _ => out.push((plan.name.clone(), Outcome::Updated)),
                }
            }
            Some(Err((_, code))) => {
                return Err(AdminError::Refused {
                    topic: plan.name.clone(),
                    code,
                });
            }
            None => out.push((plan.name.clone(), Outcome::Created)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pair_has_the_roles_retention_and_durability_with_three_replicas() {
        let [frames, keypoints] = TopicPlan::pair(
            &Topics::default(),
            4,
            3,
            FRAMES_RETENTION_MS,
            KEYPOINTS_RETENTION_MS,
        );
        assert_eq!(frames.name, "pose.frames");
        assert!(
            frames
                .config
                .contains(&("retention.ms".into(), "21600000".into()))
        );
        assert!(
            keypoints
                .config
                .contains(&("retention.ms".into(), "604800000".into()))
        );
        assert!(
            keypoints
                .config
                .contains(&("min.insync.replicas".into(), "2".into()))
        );
        let events = TopicPlan::events("pose.events", 4, 3, crate::events::EVENTS_RETENTION_MS);
        assert!(
            events
                .config
                .contains(&("retention.ms".into(), "604800000".into()))
        );
        assert!(
            events
                .config
                .iter()
                .any(|(k, _)| k == "min.insync.replicas")
        );
        let [_, single] = TopicPlan::pair(&Topics::default(), 4, 1, 1, 1);
        assert!(
            single
                .config
                .iter()
                .all(|(k, _)| k != "min.insync.replicas")
        );
        assert!(
            single
                .config
                .contains(&("segment.ms".into(), "60000".into()))
        );
    }
}
