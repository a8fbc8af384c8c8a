//! [`BatchStream`]: a [`Consumer`]'s records as a [`futures_core::Stream`] of poll batches, for
//! async users who process records in groups (bulk inserts, one commit per batch).
//!
//! **Owns:** only the adaptation of [`Consumer::poll`] to a `Stream`. **Must not touch:**
//! positions, commits, rebalances (all [`Consumer::poll`]'s), so a batch stream behaves exactly
//! like a loop over `poll`. The record-at-a-time stream is [`Consumer::stream`].

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;

use super::client::{Consumer, ConsumerError, PollFuture, StreamState as State};
use super::record::ConsumerRecord;

/// How long one inner `poll` may wait before it is simply polled again (an empty poll is never
/// yielded).
const POLL_SLICE: Duration = Duration::from_secs(3600);

/// The records of a [`Consumer`] as a stream of non-empty batches, each what one
/// [`Consumer::poll`] returned (at most `max.poll.records`). It ends (`None`) when the consumer
/// is closed; errors are yielded and the stream goes on.
///
/// Cancellation-safe: dropping the stream (or the future of [`next`](Self::next)) while it
/// waits loses no record, because `poll` only advances positions for the batch it returns, and
/// a returned batch is always yielded.
///
/// ```no_run
/// # async fn example(consumer: &mut kafkit::consumer::Consumer) -> Result<(), kafkit::consumer::ConsumerError> {
/// let mut batches = consumer.batches();
/// while let Some(batch) = batches.next().await {
///     let batch = batch?;
///     println!("{} records, last offset {}", batch.len(), batch[batch.len() - 1].offset);
/// #   break;
/// }
/// # Ok(())
/// # }
/// ```
pub struct BatchStream<'a> {
    state: State<'a>,
}

impl std::fmt::Debug for BatchStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchStream").finish_non_exhaustive()
    }
}

impl Consumer {
    /// The records as a [`Stream`] of poll batches (see [`BatchStream`]). Commit between
    /// batches with [`Consumer::commit`] after the stream is dropped, or use
    /// `enable.auto.commit`.
    ///
    /// ```no_run
    /// # async fn example(consumer: &mut kafkit::consumer::Consumer) {
    /// let stream = consumer.batches();
    /// # drop(stream);
    /// # }
    /// ```
    pub fn batches(&mut self) -> BatchStream<'_> {
        BatchStream {
            state: State::Idle(self),
        }
    }
}

impl BatchStream<'_> {
    /// The next batch (as `StreamExt::next` would give), without a stream utility crate.
    ///
    /// ```no_run
    /// # async fn example(consumer: &mut kafkit::consumer::Consumer) {
    /// if let Some(Ok(batch)) = consumer.batches().next().await { println!("{}", batch.len()); }
    /// # }
    /// ```
    pub async fn next(&mut self) -> Option<Result<Vec<ConsumerRecord>, ConsumerError>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }
}

impl Stream for BatchStream<'_> {
    type Item = Result<Vec<ConsumerRecord>, ConsumerError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match std::mem::replace(&mut self.state, State::Empty) {
                State::Idle(consumer) => {
                    let fut: PollFuture<'_> = Box::pin(async move {
                        loop {
                            match consumer.poll(POLL_SLICE).await {
                                Ok(records) if records.is_empty() => continue,
                                result => return (consumer, result),
                            }
                        }
                    });
                    self.state = State::Polling(fut);
                }
                State::Polling(mut fut) => {
                    return match fut.as_mut().poll(cx) {
                        Poll::Pending => {
                            self.state = State::Polling(fut);
                            Poll::Pending
                        }
                        Poll::Ready((_, Err(ConsumerError::Closed))) => Poll::Ready(None),
                        Poll::Ready((consumer, result)) => {
                            self.state = State::Idle(consumer);
                            Poll::Ready(Some(result))
                        }
                    };
                }
                State::Empty => return Poll::Ready(None),
            }
        }
    }
}
