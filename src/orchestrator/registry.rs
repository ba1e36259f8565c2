//! The registry: which nodes are alive and which streams they hold, each
//! entry with a time to live so that a node (or an orchestrator) that dies
//! is forgotten without anyone saying so. `memory` for one orchestrator (or
//! a single node's embedded one); `redis` so that several orchestrators
//! behind a load balancer share one view.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::records::{NodeReport, StreamRecord};

/// Longest wait for one Redis command.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// Keys the registry writes in Redis start with this.
const NODE_PREFIX: &str = "waveguide:node:";
const STREAM_PREFIX: &str = "waveguide:stream:";

/// Why the registry could not answer.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Redis refused the command or the connection failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis did not answer in time.
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    /// A value in Redis is not what this registry writes.
    #[error("unreadable registry entry {key}: {reason}")]
    Corrupt {
        /// The key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Where the registry lives.
pub enum Registry {
    /// In this process.
    Memory(Mutex<MemoryRegistry>),
    /// In Redis, shared by every orchestrator that uses the same server.
    Redis(redis::aio::ConnectionManager),
}

/// The in-memory registry: entries and when they expire.
#[derive(Default)]
pub struct MemoryRegistry {
    nodes: HashMap<String, (NodeReport, Instant)>,
    streams: HashMap<(String, String), (StreamRecord, Instant)>,
}

impl Registry {
    /// An empty in-memory registry.
    pub fn memory() -> Self {
        Self::Memory(Mutex::new(MemoryRegistry::default()))
    }

    /// A registry in the Redis server at `url` (`redis://host:port/db`).
    /// The connection is re-established on its own if Redis restarts.
    pub async fn redis(url: &str) -> Result<Self, RegistryError> {
        let client = redis::Client::open(url)?;
        let manager = tokio::time::timeout(REDIS_TIMEOUT, client.get_connection_manager())
            .await
            .map_err(|_| RegistryError::Timeout(REDIS_TIMEOUT))??;
        Ok(Self::Redis(manager))
    }

    /// Registers or refreshes a node for `ttl`.
    pub async fn put_node(&self, node: &NodeReport, ttl: Duration) -> Result<(), RegistryError> {
        match self {
            Self::Memory(memory) => {
                let mut memory = memory.lock();
                memory
                    .nodes
                    .insert(node.id.clone(), (node.clone(), Instant::now() + ttl));
                Ok(())
            }
            Self::Redis(redis) => {
                let key = format!("{NODE_PREFIX}{}", node.id);
                set_with_ttl(redis.clone(), key, encode(node), ttl).await
            }
        }
    }

    /// Forgets a node at once (it said goodbye).
    pub async fn remove_node(&self, id: &str) -> Result<(), RegistryError> {
        match self {
            Self::Memory(memory) => {
                memory.lock().nodes.remove(id);
                Ok(())
            }
            Self::Redis(redis) => delete(redis.clone(), format!("{NODE_PREFIX}{id}")).await,
        }
    }

    /// Every live node, by id.
    pub async fn nodes(&self) -> Result<Vec<NodeReport>, RegistryError> {
        let mut nodes: Vec<NodeReport> = match self {
            Self::Memory(memory) => {
                let now = Instant::now();
                let mut memory = memory.lock();
                memory.nodes.retain(|_, (_, expires)| *expires > now);
                memory
                    .nodes
                    .values()
                    .map(|(node, _)| node.clone())
                    .collect()
            }
            Self::Redis(redis) => scan_values(redis.clone(), NODE_PREFIX).await?,
        };
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(nodes)
    }

    /// Records that a node holds a stream, for `ttl`.
    pub async fn put_stream(
        &self,
        record: &StreamRecord,
        ttl: Duration,
    ) -> Result<(), RegistryError> {
        match self {
            Self::Memory(memory) => {
                let key = (record.channel.clone(), record.report.node.clone());
                memory
                    .lock()
                    .streams
                    .insert(key, (record.clone(), Instant::now() + ttl));
                Ok(())
            }
            Self::Redis(redis) => {
                let key = stream_key(&record.channel, &record.report.node);
                set_with_ttl(redis.clone(), key, encode(record), ttl).await
            }
        }
    }

    /// Forgets that `node` holds `channel`.
    pub async fn remove_stream(&self, channel: &str, node: &str) -> Result<(), RegistryError> {
        match self {
            Self::Memory(memory) => {
                memory
                    .lock()
                    .streams
                    .remove(&(channel.to_owned(), node.to_owned()));
                Ok(())
            }
            Self::Redis(redis) => delete(redis.clone(), stream_key(channel, node)).await,
        }
    }

    /// Every stream held by a live node, by channel, origins first.
    pub async fn streams(&self) -> Result<Vec<StreamRecord>, RegistryError> {
        Ok(self.snapshot().await?.1)
    }

    /// The live nodes and the streams they hold, read once.
    pub async fn snapshot(&self) -> Result<(Vec<NodeReport>, Vec<StreamRecord>), RegistryError> {
        let nodes = self.nodes().await?;
        let mut streams: Vec<StreamRecord> = match self {
            Self::Memory(memory) => {
                let now = Instant::now();
                let mut memory = memory.lock();
                memory.streams.retain(|_, (_, expires)| *expires > now);
                memory
                    .streams
                    .values()
                    .map(|(record, _)| record.clone())
                    .collect()
            }
            Self::Redis(redis) => scan_values(redis.clone(), STREAM_PREFIX).await?,
        };
        streams.retain(|record| nodes.iter().any(|node| node.id == record.report.node));
        streams.sort_by(|a, b| {
            (&a.channel, !a.report.origin, &a.report.node).cmp(&(
                &b.channel,
                !b.report.origin,
                &b.report.node,
            ))
        });
        Ok((nodes, streams))
    }
}

/// A stream's key: node and channel, JSON-quoted so that no pair of
/// names can produce another pair's key.
fn stream_key(channel: &str, node: &str) -> String {
    format!("{STREAM_PREFIX}{}", encode(&(node, channel)))
}

fn encode(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

async fn bounded<T>(
    call: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, RegistryError> {
    Ok(tokio::time::timeout(REDIS_TIMEOUT, call)
        .await
        .map_err(|_| RegistryError::Timeout(REDIS_TIMEOUT))??)
}

async fn set_with_ttl(
    mut redis: redis::aio::ConnectionManager,
    key: String,
    value: String,
    ttl: Duration,
) -> Result<(), RegistryError> {
    let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
    bounded(
        redis::cmd("SET")
            .arg(key)
            .arg(value)
            .arg("PX")
            .arg(millis)
            .query_async::<()>(&mut redis),
    )
    .await
}

async fn delete(
    mut redis: redis::aio::ConnectionManager,
    key: String,
) -> Result<(), RegistryError> {
    bounded(redis::cmd("DEL").arg(key).query_async::<()>(&mut redis)).await
}

/// Every value under `prefix`, decoded (keys that expire between the scan
/// and the read are skipped).
async fn scan_values<T: serde::de::DeserializeOwned>(
    mut redis: redis::aio::ConnectionManager,
    prefix: &str,
) -> Result<Vec<T>, RegistryError> {
    let mut keys: Vec<String> = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = bounded(
            redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{prefix}*"))
                .arg("COUNT")
                .arg(500)
                .query_async(&mut redis),
        )
        .await?;
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let values: Vec<Option<String>> =
        bounded(redis::cmd("MGET").arg(&keys).query_async(&mut redis)).await?;
    keys.iter()
        .zip(values)
        .filter_map(|(key, value)| Some((key, value?)))
        .map(|(key, value)| {
            serde_json::from_str(&value).map_err(|error| RegistryError::Corrupt {
                key: key.clone(),
                reason: error.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orchestrator::records::samples;

    fn node(id: &str) -> NodeReport {
        samples::node(id, "eu", 0, 10)
    }

    fn stream(channel: &str, node: &str) -> StreamRecord {
        samples::held(channel, node, &[node])
    }

    #[tokio::test]
    async fn memory_entries_expire_and_streams_follow_their_node() {
        let registry = Registry::memory();
        let long = Duration::from_secs(60);
        registry.put_node(&node("a"), long).await.unwrap();
        registry
            .put_node(&node("b"), Duration::from_millis(50))
            .await
            .unwrap();
        registry.put_stream(&stream("1", "a"), long).await.unwrap();
        registry.put_stream(&stream("2", "b"), long).await.unwrap();
        assert_eq!(registry.nodes().await.unwrap().len(), 2);
        assert_eq!(registry.streams().await.unwrap().len(), 2);
        tokio::time::sleep(Duration::from_millis(80)).await;
        let nodes = registry.nodes().await.unwrap();
        assert_eq!(nodes, vec![node("a")]);
        // b expired, so the stream it held is gone too.
        assert_eq!(registry.streams().await.unwrap(), vec![stream("1", "a")]);
        registry.remove_stream("1", "a").await.unwrap();
        assert!(registry.streams().await.unwrap().is_empty());
    }

    #[test]
    fn stream_keys_do_not_collide() {
        assert_ne!(stream_key("a:b", "c"), stream_key("b", "c:a"));
        assert_ne!(stream_key("x", "y"), stream_key("y", "x"));
    }
}
