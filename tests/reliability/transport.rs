//! The poller's transport seam: a transport written here, wrapping the TCP
//! one and counting what passes through it, carries every connect and every
//! read the poller makes, and the poller's decoding and reconnecting work
//! unchanged over it. This is how RTU-over-TCP and RTU plug in.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use plantgw::config::{DataType, Plc, Table, Tag, TagId};
use plantgw::sample::{Quality, Value};
use plantgw::source::modbus::poller::Poller;
use plantgw::source::modbus::transport::{
    self, BoxFuture, Connection, LinkError, ReadResult, Transport,
};
use plantgw_core::clock::PlantClock;

use super::peer::{self, Mode, ScriptedPlc};

#[derive(Default)]
struct Counts {
    connects: AtomicU64,
    reads: AtomicU64,
}

struct Counting {
    inner: Box<dyn Transport>,
    counts: Arc<Counts>,
}

struct CountingConnection {
    inner: Box<dyn Connection>,
    counts: Arc<Counts>,
}

impl Transport for Counting {
    fn connect(&self) -> BoxFuture<'_, Result<Box<dyn Connection>, LinkError>> {
        Box::pin(async move {
            self.counts.connects.fetch_add(1, Ordering::SeqCst);
            let inner = self.inner.connect().await?;
            let counted = CountingConnection {
                inner,
                counts: self.counts.clone(),
            };
            Ok(Box::new(counted) as Box<dyn Connection>)
        })
    }
}

impl CountingConnection {
    fn count(&self) {
        self.counts.reads.fetch_add(1, Ordering::SeqCst);
    }
}

impl Connection for CountingConnection {
    fn read_coils(&mut self, start: u16, count: u16) -> BoxFuture<'_, ReadResult<Vec<bool>>> {
        self.count();
        self.inner.read_coils(start, count)
    }

    fn read_discrete_inputs(
        &mut self,
        start: u16,
        count: u16,
    ) -> BoxFuture<'_, ReadResult<Vec<bool>>> {
        self.count();
        self.inner.read_discrete_inputs(start, count)
    }

    fn read_holding_registers(
        &mut self,
        start: u16,
        count: u16,
    ) -> BoxFuture<'_, ReadResult<Vec<u16>>> {
        self.count();
        self.inner.read_holding_registers(start, count)
    }

    fn read_input_registers(
        &mut self,
        start: u16,
        count: u16,
    ) -> BoxFuture<'_, ReadResult<Vec<u16>>> {
        self.count();
        self.inner.read_input_registers(start, count)
    }
}

fn tag(table: Table, address: u16, data_type: DataType) -> Tag {
    let id = TagId::new(
        "seam",
        "test",
        "seam_dev",
        format!("{}_{address}", table.as_str()),
    );
    Tag::new(id, table, address, data_type, 0)
}

/// What the peer holds for each tag of [`plc`].
fn expected() -> Vec<Value> {
    let mut v: Vec<Value> = (0..3)
        .map(|a| Value::Int(i64::from(peer::holding(a))))
        .collect();
    v.extend((0..3).map(|a| Value::Bool(peer::bit(a))));
    v.push(Value::Int(i64::from(peer::input(5))));
    v
}

/// Three read requests per scan: holding 0–2, coils 0–2, input 5.
fn plc(address: String) -> Plc {
    let mut tags: Vec<Tag> = (0..3)
        .map(|a| tag(Table::Holding, a, DataType::U16))
        .collect();
    tags.extend((0..3).map(|a| tag(Table::Coil, a, DataType::Bool)));
    tags.push(tag(Table::Input, 5, DataType::U16));
    Plc {
        name: "seam".into(),
        area: "test".into(),
        address,
        unit_id: 1,
        scan: Duration::from_millis(100),
        timeout: Duration::from_secs(2),
        max_gap: 0,
        tags,
        link: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_poller_reads_and_reconnects_through_a_transport_of_its_own() {
    let peer = ScriptedPlc::start(Mode::Healthy).await;
    let plc = Arc::new(plc(peer.address()));
    let counts = Arc::new(Counts::default());
    let counting = Counting {
        inner: transport::for_plc(&plc),
        counts: counts.clone(),
    };
    let (tx, _rx) = tokio::sync::mpsc::channel(1);
    let mut poller =
        Poller::with_transport(plc.clone(), Box::new(counting), PlantClock::wall(), tx);

    let values = |scan: &plantgw::sample::Scan| -> Vec<Option<Value>> {
        scan.readings.iter().map(|r| r.value.clone()).collect()
    };
    let want: Vec<Option<Value>> = expected().into_iter().map(Some).collect();
    for k in 0..5 {
        let scan = poller.scan_once().await;
        assert!(scan.status.connected, "scan {k}: {:?}", scan.status);
        assert_eq!(values(&scan), want, "scan {k}: {scan:?}");
    }
    assert_eq!(
        counts.connects.load(Ordering::SeqCst),
        1,
        "one connection kept"
    );
    assert_eq!(counts.reads.load(Ordering::SeqCst), 15, "3 reads a scan");
    assert_eq!(peer.requests(), 15, "a request bypassed the transport");

    // The peer resets the connection: the poller's own policy (drop the
    // link, back off, connect again) runs over the foreign transport.
    peer.set_mode(Mode::Reset);
    let scan = poller.scan_once().await;
    assert!(!scan.status.connected, "{:?}", scan.status);
    assert!(
        scan.readings
            .iter()
            .all(|r| r.quality == Quality::CommFailure),
        "{scan:?}"
    );
    peer.set_mode(Mode::Healthy);
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    let back = loop {
        let scan = poller.scan_once().await;
        if scan.status.connected {
            break scan;
        }
        assert!(tokio::time::Instant::now() < until, "never reconnected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(values(&back), want, "{back:?}");
    assert_eq!(counts.connects.load(Ordering::SeqCst), 2);
    assert_eq!(peer.connections().len(), 2);
    assert_eq!(
        peer.requests(),
        counts.reads.load(Ordering::SeqCst),
        "a request bypassed the transport"
    );
}
