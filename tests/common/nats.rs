//! A NATS JetStream cluster for the fleet tests: `nats-server -js` nodes
//! (Debian package `nats-server`) on free loopback ports, routed to each
//! other, each with a throw-away store dir. Nodes can be killed (SIGKILL)
//! and restarted on the same ports and store; all are killed on drop.
use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, require_binary};

pub struct Node {
    pub port: u16,
    cluster_port: u16,
    store: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

pub struct NatsCluster {
    pub nodes: Vec<Node>,
    /// `--auth TOKEN` on every node, if any.
    token: Option<String>,
    _dir: tempfile::TempDir,
}

impl NatsCluster {
    pub fn start(size: usize) -> NatsCluster {
        Self::start_with(size, None)
    }

    /// Every node requires `token` from clients.
    pub fn start_with(size: usize, token: Option<&str>) -> NatsCluster {
        require_binary(
            "nats-server",
            "apt-get install nats-server (or scripts/setup)",
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let nodes = (0..size)
            .map(|i| Node {
                port: free_port(),
                cluster_port: free_port(),
                store: dir.path().join(format!("node{i}")),
                log: dir.path().join(format!("node{i}.log")),
                child: None,
            })
            .collect();
        let mut c = NatsCluster {
            nodes,
            token: token.map(str::to_string),
            _dir: dir,
        };
        for i in 0..size {
            c.spawn(i);
        }
        for i in 0..size {
            c.wait_listening(i);
        }
        c
    }

    /// `["nats://127.0.0.1:P1", …]` of every node.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("nats://127.0.0.1:{}", n.port))
            .collect()
    }

    /// The `servers = [...]` TOML value.
    pub fn servers_toml(&self) -> String {
        let quoted: Vec<String> = self.urls().iter().map(|u| format!("\"{u}\"")).collect();
        format!("[{}]", quoted.join(", "))
    }

    fn spawn(&mut self, i: usize) {
        let routes: Vec<String> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, n)| format!("nats://127.0.0.1:{}", n.cluster_port))
            .collect();
        let n = &self.nodes[i];
        let log = File::options()
            .create(true)
            .append(true)
            .open(&n.log)
            .expect("node log");
        let mut cmd = Command::new("nats-server");
        cmd.args(["-js", "-a", "127.0.0.1", "-p", &n.port.to_string()]);
        if !routes.is_empty() {
            cmd.args(["--cluster", &format!("nats://127.0.0.1:{}", n.cluster_port)])
                .args(["--routes", &routes.join(",")])
                .args(["--cluster_name", "plantgw-test"]);
        }
        cmd.args(["-n", &format!("node{i}")])
            .arg("-sd")
            .arg(&n.store)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        if let Some(t) = &self.token {
            cmd.args(["--auth", t]);
        }
        self.nodes[i].child = Some(cmd.spawn().expect("start nats-server"));
    }

    fn wait_listening(&mut self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let port = self.nodes[i].port;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(c) = self.nodes[i].child.as_mut() {
                if let Ok(Some(s)) = c.try_wait() {
                    panic!("nats-server node{i} exited ({s}):\n{}", self.log_tail(i));
                }
            }
            assert!(
                Instant::now() < deadline,
                "nats-server node{i} not listening on {port} within 20 s:\n{}",
                self.log_tail(i)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: the node's store keeps what it had fsynced or replicated.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self, i: usize) {
        assert!(self.nodes[i].child.is_none(), "node{i} is running");
        self.spawn(i);
        self.wait_listening(i);
    }

    pub fn log_tail(&self, i: usize) -> String {
        let text = std::fs::read_to_string(&self.nodes[i].log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// A client on any node, JetStream context with a generous timeout.
    pub async fn jetstream(&self) -> async_nats::jetstream::Context {
        let mut opts = async_nats::ConnectOptions::new();
        if let Some(t) = &self.token {
            opts = opts.token(t.clone());
        }
        let addrs: Vec<async_nats::ServerAddr> = self
            .urls()
            .iter()
            .map(|u| u.parse().expect("server url"))
            .collect();
        let client = opts
            .connect(addrs)
            .await
            .expect("connect to the test cluster");
        let mut js = async_nats::jetstream::new(client);
        js.set_timeout(Duration::from_secs(5));
        js
    }

    /// Waits until the cluster has elected a meta leader and can host an
    /// R`replicas` stream: creates and deletes a probe stream.
    pub async fn wait_ready(&self, replicas: usize) {
        let js = self.jetstream().await;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let cfg = async_nats::jetstream::stream::Config {
                name: "PROBE".into(),
                subjects: vec!["probe.>".into()],
                num_replicas: replicas,
                ..Default::default()
            };
            match js.get_or_create_stream(cfg).await {
                Ok(_) => {
                    let _ = js.delete_stream("PROBE").await;
                    return;
                }
                Err(e) => {
                    assert!(
                        Instant::now() < deadline,
                        "JetStream cluster not ready for R{replicas} within 30 s: {e}\n{}",
                        self.log_tail(0)
                    );
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        }
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}
