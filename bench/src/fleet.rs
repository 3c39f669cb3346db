//! `--nats`: the row's gateways also publish to a three-node JetStream
//! cluster (stream R3), and one `plantgw relay` carries the stream into a
//! second database of the same InfluxDB; the row is then measured there,
//! so its throughput and latency are gateway → JetStream → relay → InfluxDB.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

use super::{free_port, ProcStat};

/// The database the relay writes.
pub const CENTRAL: &str = "central";

pub struct Fleet {
    nodes: Vec<Child>,
    relay: Child,
    relay_log: PathBuf,
}

/// CPU seconds so far: relay, then each node.
pub struct FleetCpu {
    pub relay: f64,
    pub nodes: Vec<f64>,
}

impl Fleet {
    /// Starts the cluster and the relay, and adds `[nats]` to each gateway
    /// config (before the gateways start).
    pub async fn start(
        work: &Path,
        bin: &Path,
        influx_url: &str,
        configs: &[PathBuf],
    ) -> Result<Fleet> {
        let ports: Vec<(u16, u16)> = (0..3)
            .map(|_| Ok((free_port()?, free_port()?)))
            .collect::<Result<_>>()?;
        let mut nodes = Vec::new();
        for (i, (port, cport)) in ports.iter().enumerate() {
            let routes: Vec<String> = ports
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, (_, c))| format!("\"nats://127.0.0.1:{c}\""))
                .collect();
            let conf = work.join(format!("nats{i}.conf"));
            // A gateway record is a whole line-protocol batch: room for it.
            let text = format!(
                "listen: \"127.0.0.1:{port}\"\nserver_name: node{i}\nmax_payload: 8MB\n\
                 jetstream {{ store_dir: \"{}\" }}\n\
                 cluster {{ name: bench, listen: \"127.0.0.1:{cport}\", routes: [{}] }}\n",
                work.join(format!("nats{i}")).display(),
                routes.join(", ")
            );
            std::fs::write(&conf, text)?;
            let log = std::fs::File::create(work.join(format!("nats{i}.log")))?;
            let child = Command::new("nats-server")
                .arg("-c")
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .context("starting nats-server (apt-get install nats-server)")?;
            nodes.push(child);
        }
        for (port, _) in &ports {
            let deadline = Instant::now() + Duration::from_secs(20);
            while std::net::TcpStream::connect(("127.0.0.1", *port)).is_err() {
                if Instant::now() > deadline {
                    bail!("nats-server on {port} did not start");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let servers: Vec<String> = ports
            .iter()
            .map(|(p, _)| format!("\"nats://127.0.0.1:{p}\""))
            .collect();
        let servers = format!("[{}]", servers.join(", "));
        for (i, path) in configs.iter().enumerate() {
            let mut text = std::fs::read_to_string(path)?;
            let _ = write!(
                text,
                "\n[nats]\nservers = {servers}\nstream = \"PLANT\"\nreplicas = 3\ngateway_id = \"gw{i}\"\nsubject = \"plant.bench.gw{i}\"\n"
            );
            std::fs::write(path, text)?;
        }
        let relay_conf = work.join("relay.toml");
        std::fs::write(
            &relay_conf,
            format!(
                "[nats]\nservers = {servers}\nstream = \"PLANT\"\ndurable = \"historian\"\nfilter_subject = \"plant.>\"\n\n\
                 [influxdb]\nurl = \"{influx_url}\"\napi = \"v1\"\ndatabase = \"{CENTRAL}\"\n\n[http]\nlisten = \"\"\n"
            ),
        )?;
        let relay_log = work.join("relay.log");
        let out = std::fs::File::create(&relay_log)?;
        let err = out.try_clone()?;
        let relay = Command::new(bin)
            .arg("relay")
            .arg("--config")
            .arg(&relay_conf)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .context("starting plantgw relay")?;
        Ok(Fleet {
            nodes,
            relay,
            relay_log,
        })
    }

    pub fn cpu(&self, clk_tck: f64) -> FleetCpu {
        FleetCpu {
            relay: ProcStat::pid(self.relay.id()).cpu_s(clk_tck),
            nodes: self
                .nodes
                .iter()
                .map(|n| ProcStat::pid(n.id()).cpu_s(clk_tck))
                .collect(),
        }
    }

    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(s) = self.relay.try_wait()? {
            bail!(
                "the relay exited ({s}); log:\n{}",
                super::tail(&self.relay_log)
            );
        }
        Ok(())
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for c in std::iter::once(&mut self.relay).chain(self.nodes.iter_mut()) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// "relay X %, nodes a / b / c % of a core" over `wall_s`.
pub fn describe(before: &FleetCpu, after: &FleetCpu, wall_s: f64) -> String {
    let pct = |a: f64, b: f64| (b - a) / wall_s * 100.0;
    let nodes: Vec<String> = before
        .nodes
        .iter()
        .zip(&after.nodes)
        .map(|(a, b)| format!("{:.1}", pct(*a, *b)))
        .collect();
    format!(
        "relay CPU {:.1} % of a core, nats-server nodes {} % of a core",
        pct(before.relay, after.relay),
        nodes.join(" / ")
    )
}
