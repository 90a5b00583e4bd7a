//! The machine's RabbitMQ for the rabbitmq engine's tests: `Broker` (its management API as
//! guest, enabling the management plugin first if it is off, and AMQP logins) and `TcpProxy`
//! (a port in front of the management API that a test can take down and bring back, so an
//! outage is simulated without stopping the broker other tests share).
//!
//! The management plugin ships with RabbitMQ but is not enabled by default; `Broker::ready`
//! runs `rabbitmq-plugins enable rabbitmq_management` (as root, which the tests run as) when
//! port 15672 does not answer, then waits until it does.

use std::sync::Arc;
use std::time::Duration;

use amqprs::channel::{BasicGetArguments, BasicPublishArguments, Channel, QueueDeclareArguments};
use amqprs::connection::{Connection, OpenConnectionArguments};
use amqprs::BasicProperties;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, OnceCell};

pub const MANAGEMENT_PORT: u16 = 15672;
pub const AMQP_PORT: u16 = 5672;

/// The shared broker, as its guest administrator.
#[derive(Clone)]
pub struct Broker {
    http: reqwest::Client,
}

static READY: OnceCell<()> = OnceCell::const_new();

impl Broker {
    /// The broker with its management API answering.
    pub async fn ready() -> Broker {
        let broker = Broker {
            http: reqwest::Client::new(),
        };
        READY
            .get_or_init(|| async {
                if broker.answers().await {
                    return;
                }
                let out = tokio::process::Command::new("rabbitmq-plugins")
                    .args(["enable", "rabbitmq_management"])
                    .output()
                    .await
                    .expect("rabbitmq-plugins not found: is RabbitMQ installed?");
                assert!(
                    out.status.success(),
                    "enabling the management plugin failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                for _ in 0..300 {
                    if broker.answers().await {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                panic!("the management API never answered on {MANAGEMENT_PORT}");
            })
            .await;
        broker
    }

    async fn answers(&self) -> bool {
        self.api("GET", "overview", None)
            .await
            .is_ok_and(|(s, _)| s == 200)
    }

    pub fn management_uri() -> String {
        format!("http://127.0.0.1:{MANAGEMENT_PORT}")
    }

    /// One management API call as guest: (status, body as JSON or Null).
    pub async fn api(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), reqwest::Error> {
        let url = format!("{}/api/{path}", Self::management_uri());
        let mut req = self
            .http
            .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url)
            .basic_auth("guest", Some("guest"));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    pub async fn user_exists(&self, name: &str) -> bool {
        let (s, _) = self
            .api("GET", &format!("users/{}", enc(name)), None)
            .await
            .unwrap();
        assert!(s == 200 || s == 404, "GET user: {s}");
        s == 200
    }

    /// Every user whose name starts with `prefix`.
    pub async fn users_starting(&self, prefix: &str) -> Vec<String> {
        let (_, v) = self.api("GET", "users", None).await.unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .filter_map(|u| u["name"].as_str())
            .filter(|n| n.starts_with(prefix))
            .map(str::to_owned)
            .collect()
    }

    /// Connections of `user`, from the broker's own tracking.
    pub async fn connections_of(&self, user: &str) -> usize {
        let (s, v) = self
            .api("GET", &format!("connections/username/{}", enc(user)), None)
            .await
            .unwrap();
        assert_eq!(s, 200, "{v}");
        v.as_array().map_or(0, Vec::len)
    }

    pub async fn create_vhost(&self, name: &str) {
        let (s, v) = self
            .api("PUT", &format!("vhosts/{}", enc(name)), Some(json!({})))
            .await
            .unwrap();
        assert!(s == 201 || s == 204, "PUT vhost: {s} {v}");
    }

    /// A queue in `/` made as guest (someone else's, to the credential under test).
    pub async fn create_queue(&self, name: &str) {
        let (s, v) = self
            .api("PUT", &format!("queues/%2F/{}", enc(name)), Some(json!({})))
            .await
            .unwrap();
        assert!(s == 201 || s == 204, "PUT queue: {s} {v}");
    }

    pub async fn delete_queue(&self, name: &str) {
        let _ = self
            .api("DELETE", &format!("queues/%2F/{}", enc(name)), None)
            .await;
    }

    pub async fn delete_vhost(&self, name: &str) {
        let _ = self
            .api("DELETE", &format!("vhosts/{}", enc(name)), None)
            .await;
    }

    /// A user made behind the engine's back (an orphan, or someone else's).
    pub async fn create_user(&self, name: &str, password: &str) {
        let (s, v) = self
            .api(
                "PUT",
                &format!("users/{}", enc(name)),
                Some(json!({"password": password, "tags": ""})),
            )
            .await
            .unwrap();
        assert!(s == 201 || s == 204, "PUT user: {s} {v}");
    }

    pub async fn delete_user(&self, name: &str) {
        let _ = self
            .api("DELETE", &format!("users/{}", enc(name)), None)
            .await;
    }

    /// An AMQP login as `user` into `vhost`.
    pub async fn connect(user: &str, password: &str, vhost: &str) -> Result<Amqp, String> {
        let mut args = OpenConnectionArguments::new("127.0.0.1", AMQP_PORT, user, password);
        args.virtual_host(vhost);
        let connection = Connection::open(&args).await.map_err(|e| e.to_string())?;
        let channel = connection
            .open_channel(None)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Amqp {
            connection,
            channel,
        })
    }
}

/// An open AMQP connection with one channel.
pub struct Amqp {
    pub connection: Connection,
    pub channel: Channel,
}

impl Amqp {
    /// Declare queue `name` (needs `configure` on it), exclusive to this connection so that it
    /// leaves the shared broker with it.
    pub async fn declare(&self, name: &str) -> Result<(), String> {
        self.channel
            .queue_declare(QueueDeclareArguments::new(name).exclusive(true).finish())
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    /// Publish `body` to queue `queue` through the default exchange (needs `write` on
    /// `amq.default`), then wait for the broker to have it (a refused publish closes the
    /// channel, which the next call reports).
    pub async fn publish(&self, queue: &str, body: &[u8]) -> Result<(), String> {
        self.channel
            .basic_publish(
                BasicProperties::default(),
                body.to_vec(),
                BasicPublishArguments::new("", queue),
            )
            .await
            .map_err(|e| e.to_string())
    }

    /// Take one message from `queue` (needs `read` on it).
    pub async fn get(&self, queue: &str) -> Result<Option<Vec<u8>>, String> {
        let mut args = BasicGetArguments::new(queue);
        args.no_ack(true);
        self.channel
            .basic_get(args)
            .await
            .map(|m| m.map(|(_, _, body)| body))
            .map_err(|e| e.to_string())
    }

    /// Whether the broker still serves this connection: a new channel can be opened on it.
    pub async fn alive(&self) -> bool {
        if !self.connection.is_open() {
            return false;
        }
        match tokio::time::timeout(Duration::from_secs(3), self.connection.open_channel(None)).await
        {
            Ok(Ok(ch)) => {
                let _ = ch.close().await;
                true
            }
            _ => false,
        }
    }
}

/// A name as one path segment of the management API.
pub fn enc(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A TCP port forwarding to `target`, that can be stopped (connections refused, open ones cut)
/// and started again on the same port.
pub struct TcpProxy {
    pub port: u16,
    target: u16,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl TcpProxy {
    pub async fn start(target: u16) -> Arc<TcpProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let proxy = Arc::new(TcpProxy {
            port,
            target,
            task: Mutex::new(None),
        });
        *proxy.task.lock().await = Some(tokio::spawn(forward(listener, target)));
        proxy
    }

    /// Refuse connections from now on (and cut the ones in flight).
    pub async fn stop(&self) {
        if let Some(task) = self.task.lock().await.take() {
            task.abort();
            let _ = task.await;
        }
    }

    pub async fn start_again(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        *self.task.lock().await = Some(tokio::spawn(forward(listener, self.target)));
    }

    pub fn uri(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

async fn forward(listener: TcpListener, target: u16) {
    let mut pipes = tokio::task::JoinSet::new();
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            continue;
        };
        pipes.spawn(async move {
            if let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", target)).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}
