//! An ordered parallel map over a stream: one thread reads batches, workers transform them on every core, and one
//! thread consumes the results in input order. Memory stays bounded by a few batches per worker.

use std::sync::Mutex;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use crate::ClientError;

type Job<B, O> = (B, SyncSender<Result<O, ClientError>>);

/// Runs `source` on the calling thread until it yields `None`, `work` on `parallelism` threads, and `sink` on its
/// own thread in source order. The first error anywhere stops the run and is returned.
pub(crate) fn ordered<B: Send, O: Send>(
    parallelism: usize,
    mut source: impl FnMut() -> Result<Option<B>, ClientError>,
    work: impl Fn(B) -> Result<O, ClientError> + Sync,
    mut sink: impl FnMut(O) -> Result<(), ClientError> + Send,
) -> Result<(), ClientError> {
    if parallelism <= 1 {
        while let Some(batch) = source()? {
            sink(work(batch)?)?;
        }
        return Ok(());
    }
    let depth = parallelism * 2;
    let (jobs, job_queue) = sync_channel::<Job<B, O>>(depth);
    let job_queue = Mutex::new(job_queue);
    std::thread::scope(|scope| {
        for _ in 0..parallelism {
            let (work, job_queue) = (&work, &job_queue);
            scope.spawn(move || {
                loop {
                    let job = match job_queue.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => return,
                    };
                    let Ok((batch, reply)) = job else { return };
                    // A closed reply means the sink stopped; the source will notice.
                    let _ = reply.send(work(batch));
                }
            });
        }
        let (order, results) = sync_channel::<Receiver<Result<O, ClientError>>>(depth);
        let consumer = scope.spawn(move || -> Result<(), ClientError> {
            for result in results {
                let output = result.recv().map_err(|_| stopped())??;
                sink(output)?;
            }
            Ok(())
        });
        let produced = (|| -> Result<(), ClientError> {
            while let Some(batch) = source()? {
                let (reply, result) = sync_channel(1);
                if order.send(result).is_err() || jobs.send((batch, reply)).is_err() {
                    // The consumer stopped early; its error is the one to report.
                    break;
                }
            }
            Ok(())
        })();
        drop(order);
        drop(jobs);
        let consumed = consumer.join().map_err(|_| stopped())?;
        produced.and(consumed)
    })
}

fn stopped() -> ClientError {
    ClientError::Io(std::io::Error::other("a worker thread stopped"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_arrive_in_order_and_errors_stop_the_run() {
        for parallelism in [1, 2, 4] {
            let mut next = 0u32;
            let mut seen = Vec::new();
            ordered(
                parallelism,
                || {
                    next += 1;
                    Ok((next <= 100).then_some(next))
                },
                |n| Ok(n * 2),
                |n| {
                    seen.push(n);
                    Ok(())
                },
            )
            .expect("runs");
            assert_eq!(seen, (1..=100).map(|n| n * 2).collect::<Vec<_>>());

            let mut next = 0u32;
            let failed = ordered(
                parallelism,
                || {
                    next += 1;
                    Ok(Some(next))
                },
                |n| if n == 50 { Err(ClientError::Truncated) } else { Ok(n) },
                |_| Ok(()),
            );
            assert!(matches!(failed, Err(ClientError::Truncated)));
        }
    }
}
