//! Strict Modbus behaviour, seen by a tokio-modbus client and by raw bytes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use plantsim::image::PlcImage;
use plantsim::server::{drain_frames, Reply};
use plantsim::service::{PlcService, PlcState};
use plantsim::Scenario;
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_modbus::client::{Client, Reader, Writer};
use tokio_modbus::{ExceptionCode, Request};

use crate::common::{self, DAY_START};

async fn grinding() -> (plantsim::RunningSim, std::net::SocketAddr) {
    let sim = common::start(common::options(DAY_START, 60.0, Scenario::normal())).await;
    let addr = sim.addr("grinding").expect("grinding listener");
    (sim, addr)
}

#[tokio::test]
async fn quantities_outside_the_limits_are_illegal_data_value() {
    let (sim, addr) = grinding().await;
    let mut ctx = common::connect(addr, 1).await;
    let e3 = Err(ExceptionCode::IllegalDataValue);
    assert_eq!(ctx.read_holding_registers(0, 0).await.expect("link"), e3);
    assert_eq!(ctx.read_holding_registers(0, 126).await.expect("link"), e3);
    assert_eq!(ctx.read_input_registers(0, 0).await.expect("link"), e3);
    assert_eq!(
        ctx.read_coils(0, 0).await.expect("link"),
        Err(ExceptionCode::IllegalDataValue)
    );
    assert_eq!(
        ctx.read_coils(0, 2001).await.expect("link"),
        Err(ExceptionCode::IllegalDataValue)
    );
    assert_eq!(
        ctx.read_discrete_inputs(0, 2001).await.expect("link"),
        Err(ExceptionCode::IllegalDataValue)
    );
    // 125 registers is legal; past the map it is an address error instead.
    assert_eq!(
        ctx.read_input_registers(0, 125).await.expect("link"),
        Err(ExceptionCode::IllegalDataAddress)
    );
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn the_address_space_ends_at_the_last_mapped_address_and_gaps_read_zero() {
    let (sim, addr) = grinding().await;
    let mut ctx = common::connect(addr, 1).await;
    let map = sim.map().plc("grinding").expect("grinding").clone();
    let size = map.table_size(plantsim::registers::Table::Holding);
    assert_eq!(size, 54, "holding space of grinding (string at 50..=53)");
    assert!(ctx
        .read_holding_registers(53, 1)
        .await
        .expect("link")
        .is_ok());
    assert_eq!(
        ctx.read_holding_registers(54, 1).await.expect("link"),
        Err(ExceptionCode::IllegalDataAddress)
    );
    assert_eq!(
        ctx.read_holding_registers(50, 5).await.expect("link"),
        Err(ExceptionCode::IllegalDataAddress)
    );
    assert_eq!(
        ctx.read_holding_registers(u16::MAX, 1).await.expect("link"),
        Err(ExceptionCode::IllegalDataAddress)
    );
    // Holding 9..=19 is a gap between the belt-scale block and the setpoint.
    assert_eq!(
        ctx.read_holding_registers(9, 11).await.expect("link"),
        Ok(vec![0; 11])
    );
    let coils = map.table_size(plantsim::registers::Table::Coil);
    assert!(ctx.read_coils(0, coils as u16).await.expect("link").is_ok());
    assert_eq!(
        ctx.read_coils(0, coils as u16 + 1).await.expect("link"),
        Err(ExceptionCode::IllegalDataAddress)
    );
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn unsupported_functions_are_illegal_function() {
    let (sim, addr) = grinding().await;
    let mut ctx = common::connect(addr, 1).await;
    for req in [
        Request::Custom(0x41, vec![0, 1].into()),
        Request::ReportServerId,
        Request::MaskWriteRegister(0, 0xFF, 0),
        Request::ReadWriteMultipleRegisters(0, 1, 0, vec![1].into()),
    ] {
        let what = format!("{req:?}");
        let r = ctx.call(req).await.expect("link");
        assert_eq!(r.err(), Some(ExceptionCode::IllegalFunction), "{what}");
    }
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn writes_are_refused_unless_allowed() {
    let (sim, addr) = grinding().await;
    let mut ctx = common::connect(addr, 1).await;
    let e1 = Err(ExceptionCode::IllegalFunction);
    assert_eq!(ctx.write_single_register(20, 1).await.expect("link"), e1);
    assert_eq!(
        ctx.write_multiple_registers(20, &[1, 2])
            .await
            .expect("link"),
        e1
    );
    assert_eq!(ctx.write_single_coil(0, false).await.expect("link"), e1);
    assert_eq!(
        ctx.write_multiple_coils(0, &[false]).await.expect("link"),
        e1
    );
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn allowed_writes_are_stored_and_survive_the_model_refreshing() {
    let mut opts = common::options(DAY_START, 600.0, Scenario::normal());
    opts.allow_writes = true;
    let sim = common::start(opts).await;
    let mut ctx = common::connect(sim.addr("grinding").expect("grinding"), 1).await;
    // Feed setpoint: 32.5 t/h with scale 0.1.
    assert_eq!(
        ctx.write_single_register(20, 325).await.expect("link"),
        Ok(())
    );
    assert_eq!(
        ctx.write_multiple_registers(50, &[0x4142, 0x4300])
            .await
            .expect("link"),
        Ok(())
    );
    assert_eq!(ctx.write_single_coil(2, false).await.expect("link"), Ok(()));
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        ctx.read_holding_registers(20, 1).await.expect("link"),
        Ok(vec![325])
    );
    assert_eq!(
        ctx.read_holding_registers(50, 2).await.expect("link"),
        Ok(vec![0x4142, 0x4300])
    );
    assert_eq!(ctx.read_coils(2, 1).await.expect("link"), Ok(vec![false]));
    assert_eq!(
        ctx.write_single_register(54, 1).await.expect("link"),
        Err(ExceptionCode::IllegalDataAddress)
    );
    assert_eq!(
        ctx.write_multiple_coils(0, &[true; 4]).await.expect("link"),
        Err(ExceptionCode::IllegalDataAddress)
    );
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn other_unit_ids_get_exception_0x0b_and_broadcasts_no_answer() {
    let (sim, addr) = grinding().await;
    let mut other = common::connect(addr, 7).await;
    assert_eq!(
        other.read_holding_registers(0, 2).await.expect("link"),
        Err(ExceptionCode::GatewayTargetDevice)
    );
    let mut broadcast = common::connect(addr, 0).await;
    let r = tokio::time::timeout(
        Duration::from_millis(300),
        broadcast.read_holding_registers(0, 2),
    )
    .await;
    assert!(r.is_err(), "a broadcast must not be answered: {r:?}");
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn many_concurrent_clients_are_all_served() {
    let (sim, addr) = grinding().await;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..64 {
        tasks.spawn(async move {
            let mut ctx = common::connect(addr, 1).await;
            for _ in 0..20 {
                let r = ctx.read_holding_registers(0, 9).await.expect("link");
                assert_eq!(r.map(|v| v.len()), Ok(9));
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("client task");
    }
    assert!(started.elapsed() < Duration::from_secs(20));
    sim.shutdown().await.expect("clean shutdown");
}

async fn exchange(stream: &mut TcpStream, bytes: &[u8], expect_len: usize) -> Vec<u8> {
    stream.write_all(bytes).await.expect("write");
    let mut buf = vec![0u8; expect_len];
    tokio::time::timeout(Duration::from_secs(2), stream.read_exact(&mut buf))
        .await
        .expect("answer in time")
        .expect("read");
    buf
}

#[tokio::test]
async fn hostile_frames_get_exceptions_or_a_closed_link_and_the_server_lives_on() {
    let (sim, addr) = grinding().await;
    let mut s = TcpStream::connect(addr).await.expect("connect");
    // Write multiple coils claiming 100 coils with one data byte (panics
    // tokio-modbus 0.17's own server codec).
    let short = [0, 9, 0, 0, 0, 8, 1, 0x0F, 0, 0, 0, 100, 1, 0xFF];
    assert_eq!(
        exchange(&mut s, &short, 9).await,
        vec![0, 9, 0, 0, 0, 3, 1, 0x8F, 3]
    );
    // Read with trailing junk: wrong PDU size.
    let junk = [0, 10, 0, 0, 0, 7, 1, 3, 0, 0, 0, 1, 0xAA];
    assert_eq!(
        exchange(&mut s, &junk, 9).await,
        vec![0, 10, 0, 0, 0, 3, 1, 0x83, 3]
    );
    // Function code with the exception bit set.
    let weird = [0, 11, 0, 0, 0, 2, 1, 0x83];
    assert_eq!(
        exchange(&mut s, &weird, 9).await,
        vec![0, 11, 0, 0, 0, 3, 1, 0x83, 1]
    );
    // Two pipelined reads in one segment are both answered, in order.
    let two = [
        0, 1, 0, 0, 0, 6, 1, 3, 0, 20, 0, 1, 0, 2, 0, 0, 0, 6, 1, 3, 0, 20, 0, 1,
    ];
    let answers = exchange(&mut s, &two, 22).await;
    assert_eq!(&answers[..2], &[0, 1]);
    assert_eq!(&answers[11..13], &[0, 2]);
    // A length field of zero desynchronises the stream: the link is closed.
    s.write_all(&[0, 1, 0, 0, 0, 0, 1, 3]).await.expect("write");
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut rest)).await;
    assert!(matches!(closed, Ok(Ok(0))), "{closed:?}");
    // Still serving.
    let mut ctx = common::connect(addr, 1).await;
    assert!(ctx
        .read_holding_registers(0, 2)
        .await
        .expect("link")
        .is_ok());
    sim.shutdown().await.expect("clean shutdown");
}

fn offline_service() -> PlcService {
    let (core, map) = common::core(Scenario::normal(), 1);
    let plc = map.plc("flotation").expect("flotation");
    let mut image = PlcImage::new(plc);
    image.render(plc, 2, &core);
    PlcService::new(Arc::new(PlcState::new(plc.name.clone(), 1, true, image)))
}

fn check_replies(replies: &[Reply]) -> Result<(), TestCaseError> {
    for r in replies {
        if let Reply::Send { adu, .. } = r {
            prop_assert!(
                adu.len() >= 9 && adu.len() <= 7 + 253,
                "adu of {} bytes",
                adu.len()
            );
            let len = usize::from(u16::from_be_bytes([adu[4], adu[5]]));
            prop_assert_eq!(len + 6, adu.len());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Arbitrary bytes, in arbitrary chunks, never panic the request path.
    #[test]
    fn arbitrary_bytes_never_panic(chunks in proptest::collection::vec(
        proptest::collection::vec(any::<u8>(), 0..300), 1..5)) {
        let service = offline_service();
        let mut buf = Vec::new();
        for c in chunks {
            buf.extend_from_slice(&c);
            let replies = drain_frames(&service, &mut buf);
            check_replies(&replies)?;
            if replies.last() == Some(&Reply::Close) {
                break;
            }
        }
    }

    /// Well-framed requests with arbitrary PDUs always get a well-formed answer.
    #[test]
    fn framed_arbitrary_pdus_are_answered(tid in any::<u16>(), pdu in proptest::collection::vec(any::<u8>(), 1..253)) {
        let service = offline_service();
        let len = u16::try_from(pdu.len() + 1).unwrap_or(u16::MAX);
        let mut buf = vec![(tid >> 8) as u8, tid as u8, 0, 0, (len >> 8) as u8, len as u8, 1];
        buf.extend_from_slice(&pdu);
        let replies = drain_frames(&service, &mut buf);
        prop_assert_eq!(replies.len(), 1);
        check_replies(&replies)?;
        match &replies[0] {
            Reply::Send { adu, .. } => {
                prop_assert_eq!(&adu[..2], &[(tid >> 8) as u8, tid as u8]);
                prop_assert_eq!(adu[7] & 0x7F, pdu[0] & 0x7F);
            }
            other => prop_assert!(false, "{other:?}"),
        }
        prop_assert!(buf.is_empty());
    }
}
