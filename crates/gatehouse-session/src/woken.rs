//! A future polled only when something it waits for has woken it.
//!
//! `tokio::select!` polls every branch each time its task wakes. A relay's task wakes two or
//! three times per request it carries (the client's socket, the server's), and every branch
//! was polled each time: the one that watches for the session's
//! [`Endings`](crate::Endings) — a select of its own over three watch channels and a timer —
//! for nothing (≈ 2k instructions per pgbench statement), and each direction of the relay on
//! the other direction's wake-ups (≈ 1.2k more; BENCHMARKS.md, issue 23's seventh round).
//! Wrapped in a [`WokenOnly`], a branch is polled once at first and afterwards only when one
//! of the things it waits for woke it. That needs every such thing to wake it — a socket, a
//! channel, a timer — rather than a sibling branch changing state it would notice only when
//! polled.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

/// `inner`, polled only after its own waker was woken (and on the first poll).
pub struct WokenOnly<F> {
    inner: Pin<Box<F>>,
    signal: Arc<Signal>,
    /// The waker `inner` is polled with: it marks the signal and wakes the current poller.
    inner_waker: Waker,
}

/// Whether `inner` was woken since it was last polled, and whom to wake when it is.
struct Signal {
    woken: AtomicBool,
    poller: Mutex<Option<Waker>>,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        let poller = self.poller.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(poller) = poller.as_ref() {
            poller.wake_by_ref();
        }
    }
}

impl<F: Future> WokenOnly<F> {
    pub fn new(inner: F) -> Self {
        let signal = Arc::new(Signal {
            woken: AtomicBool::new(true),
            poller: Mutex::new(None),
        });
        WokenOnly {
            inner: Box::pin(inner),
            inner_waker: Waker::from(signal.clone()),
            signal,
        }
    }
}

impl<F: Future> Future for WokenOnly<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        // The poller is recorded before the flag is read: a wake between the two then finds
        // it and wakes it, rather than being lost.
        {
            let mut poller = this
                .signal
                .poller
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if !poller
                .as_ref()
                .is_some_and(|known| known.will_wake(cx.waker()))
            {
                *poller = Some(cx.waker().clone());
            }
        }
        if !this.signal.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        this.inner
            .as_mut()
            .poll(&mut Context::from_waker(&this.inner_waker))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::sync::atomic::AtomicUsize;
    use tokio::sync::watch;

    /// `inner`, counting how often it is polled.
    struct Counted<'a, F> {
        inner: Pin<Box<F>>,
        polls: &'a AtomicUsize,
    }

    impl<F: Future> Future for Counted<'_, F> {
        type Output = F::Output;

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
            self.polls.fetch_add(1, Ordering::SeqCst);
            self.inner.as_mut().poll(cx)
        }
    }

    async fn until_true(mut flag: watch::Receiver<bool>) {
        while !*flag.borrow_and_update() {
            if flag.changed().await.is_err() {
                return;
            }
        }
    }

    #[tokio::test]
    async fn wakes_of_other_branches_do_not_poll_it_and_its_own_wake_does() {
        let (flag_sender, flag) = watch::channel(false);
        let (tick_sender, mut ticks) = tokio::sync::mpsc::unbounded_channel::<()>();
        let polls = AtomicUsize::new(0);
        let mut watched = std::pin::pin!(WokenOnly::new(Counted {
            inner: Box::pin(until_true(flag)),
            polls: &polls,
        }));
        for _ in 0..100 {
            tick_sender.send(()).unwrap();
        }
        let mut ticked = 0;
        let finished = loop {
            tokio::select! {
                biased;
                () = watched.as_mut() => break true,
                Some(()) = ticks.recv() => {
                    ticked += 1;
                    if ticked == 100 {
                        flag_sender.send(true).unwrap();
                    }
                }
            }
        };
        assert!(finished);
        assert_eq!(ticked, 100, "every other wake was served");
        // Polled once at first and once after the flag changed — not once per tick.
        assert!(
            polls.load(Ordering::SeqCst) <= 3,
            "polled {} times",
            polls.load(Ordering::SeqCst)
        );
    }

    #[tokio::test]
    async fn a_timer_inside_still_fires() {
        let started = tokio::time::Instant::now();
        WokenOnly::new(tokio::time::sleep(std::time::Duration::from_millis(20))).await;
        assert!(started.elapsed() >= std::time::Duration::from_millis(20));
    }
}
