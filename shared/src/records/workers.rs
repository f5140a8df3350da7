//! Inflate threads kept between inputs. Starting a thread (and its chunk buffers) for every
//! file cost about as much as the overlap saved on files of a few hundred KB: `trailwatch
//! match` over 150 files of 300 KB ran no faster on two cores than on one.
//!
//! A job runs on an idle worker if there is one, else on a new thread; after its job a worker
//! waits for the next one, up to [`MAX_IDLE`] of them (the functions process up to 4 files at
//! once by default). Each worker keeps the chunk buffers its jobs got back, so a new input does
//! not allocate and zero them again.

use std::io;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Mutex, PoisonError};

/// A job: given the worker's spare chunk buffers, to take from and to give back to.
pub(super) type Job = Box<dyn FnOnce(&mut Vec<Vec<u8>>) + Send>;

/// Idle workers beyond this many end instead of waiting.
const MAX_IDLE: usize = 4;

static IDLE: Mutex<Vec<SyncSender<Job>>> = Mutex::new(Vec::new());

/// Runs `job` on an idle worker, or on a new one.
pub(super) fn run(mut job: Job) -> io::Result<()> {
    loop {
        let idle = IDLE.lock().unwrap_or_else(PoisonError::into_inner).pop();
        match idle {
            Some(worker) => match worker.send(job) {
                Ok(()) => return Ok(()),
                // That worker has ended (its job panicked): try the next one.
                Err(returned) => job = returned.0,
            },
            None => return spawn(job),
        }
    }
}

fn spawn(first: Job) -> io::Result<()> {
    std::thread::Builder::new()
        .name("trailwatch-inflate".into())
        .spawn(move || {
            let (to_me, jobs) = sync_channel::<Job>(1);
            let mut spare = Vec::new();
            let mut job = first;
            loop {
                job(&mut spare);
                {
                    let mut idle = IDLE.lock().unwrap_or_else(PoisonError::into_inner);
                    if idle.len() >= MAX_IDLE {
                        return;
                    }
                    idle.push(to_me.clone());
                }
                match jobs.recv() {
                    Ok(next) => job = next,
                    Err(_) => return,
                }
            }
        })
        .map(drop)
}
