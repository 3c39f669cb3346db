//! Collects encoded lines into batches, cut by line count or by age
//! (`batch_size`, `flush_interval_ms`). Pure: the pipeline owns the timer.
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Newline-terminated line protocol.
    pub body: Vec<u8>,
    pub lines: usize,
}

pub struct Batcher {
    buf: Vec<u8>,
    lines: usize,
    max_lines: usize,
    max_age: Duration,
    opened: Option<Instant>,
}

impl Batcher {
    pub fn new(max_lines: usize, max_age: Duration) -> Self {
        Batcher {
            buf: Vec::with_capacity(64 * 1024),
            lines: 0,
            max_lines: max_lines.max(1),
            max_age,
            opened: None,
        }
    }

    /// Appends lines with `encode` (which returns how many it wrote) and
    /// returns a batch when the size limit is reached.
    pub fn append(&mut self, encode: impl FnOnce(&mut Vec<u8>) -> usize) -> Option<Batch> {
        let n = encode(&mut self.buf);
        if n > 0 {
            self.lines += n;
            self.opened.get_or_insert_with(Instant::now);
        }
        (self.lines >= self.max_lines)
            .then(|| self.take())
            .flatten()
    }

    /// When the open batch must be flushed, if one is open.
    pub fn deadline(&self) -> Option<Instant> {
        self.opened.map(|t| t + self.max_age)
    }

    /// Everything held, as one batch (None when empty).
    pub fn take(&mut self) -> Option<Batch> {
        if self.lines == 0 {
            return None;
        }
        self.opened = None;
        let lines = std::mem::take(&mut self.lines);
        let cap = self.buf.capacity();
        let body = std::mem::replace(&mut self.buf, Vec::with_capacity(cap));
        Some(Batch { body, lines })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn cuts_by_size_and_age() {
        let mut b = Batcher::new(3, Duration::from_millis(1000));
        assert!(b.deadline().is_none());
        assert!(b
            .append(|o| {
                o.extend_from_slice(b"a v=1 1\nb v=2 1\n");
                2
            })
            .is_none());
        let opened = b.deadline().unwrap();
        let full = b
            .append(|o| {
                o.extend_from_slice(b"c v=3 1\n");
                1
            })
            .unwrap();
        assert_eq!(full.lines, 3);
        assert_eq!(full.body, b"a v=1 1\nb v=2 1\nc v=3 1\n");
        assert!(b.take().is_none());
        tokio::time::advance(Duration::from_millis(10)).await;
        b.append(|o| {
            o.extend_from_slice(b"d v=4 1\n");
            1
        });
        assert!(b.deadline().unwrap() > opened);
        assert_eq!(b.take().unwrap().lines, 1);
    }
}
