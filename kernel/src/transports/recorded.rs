//! A transport with no network: it records what the plugin sent and answers
//! from a script. `hub plugin test` runs recorded cases on it, and the
//! benchmarks use it to measure the sandbox without measuring a server.
//!
//! One [`Replay`] implements all three transport traits, so a case can mix
//! HTTP calls, AMQP publishes and file operations; answers are taken in the
//! order the calls are made, whatever their protocol.

use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{
    AmqpMessage, AmqpTransport, FileEntry, FileTransport, HttpRequest, HttpResponse, HttpTransport, TransportError,
};

/// One outbound call as the plugin made it (after the sandbox's checks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordedCall {
    Http(HttpRequest),
    Publish(AmqpMessage),
    Put { path: String, contents: Vec<u8> },
    Get { path: String },
    List { directory: String },
    Rename { from: String, to: String },
    Remove { path: String },
}

/// What the script answers to one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Http(HttpResponse),
    /// Success for publish, put, rename, remove.
    Done,
    /// The contents for a `get`.
    Contents(Vec<u8>),
    /// The listing for a `list`.
    Listing(Vec<FileEntry>),
    Fail(TransportError),
}

enum Script {
    /// Answers in order; when they run out, calls fail with `unavailable`.
    Sequence(VecDeque<Answer>),
    /// The same answer to every call (benchmarks, load tests).
    Always(Answer),
}

pub struct Replay {
    script: Mutex<Script>,
    calls: Mutex<Vec<RecordedCall>>,
}

impl Replay {
    pub fn sequence(answers: impl IntoIterator<Item = Answer>) -> Self {
        Replay {
            script: Mutex::new(Script::Sequence(answers.into_iter().collect())),
            calls: Mutex::new(Vec::new()),
        }
    }

    pub fn always(answer: Answer) -> Self {
        Replay {
            script: Mutex::new(Script::Always(answer)),
            calls: Mutex::new(Vec::new()),
        }
    }

    /// Every call made so far, in order.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.calls.lock().map(|calls| calls.clone()).unwrap_or_default()
    }

    /// Answers the script did not get to use.
    pub fn unused_answers(&self) -> usize {
        match self.script.lock().as_deref() {
            Ok(Script::Sequence(answers)) => answers.len(),
            _ => 0,
        }
    }

    fn next(&self, call: RecordedCall) -> Answer {
        let answer = match self.script.lock().as_deref_mut() {
            Ok(Script::Sequence(answers)) => answers.pop_front(),
            Ok(Script::Always(answer)) => Some(answer.clone()),
            Err(_) => None,
        };
        let answer = answer.unwrap_or_else(|| {
            let mut shown = format!("{call:?}");
            shown.truncate(120);
            Answer::Fail(TransportError::Unavailable {
                message: format!("the recording has no answer left for {shown}"),
                retry_after_ms: None,
            })
        });
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(call);
        }
        answer
    }

    fn done(&self, call: RecordedCall, operation: &str) -> Result<(), TransportError> {
        match self.next(call) {
            Answer::Done => Ok(()),
            Answer::Fail(error) => Err(error),
            other => Err(mismatch(operation, &other)),
        }
    }
}

fn mismatch(operation: &str, answer: &Answer) -> TransportError {
    let kind = match answer {
        Answer::Http(_) => "an HTTP response",
        Answer::Done => "a plain success",
        Answer::Contents(_) => "file contents",
        Answer::Listing(_) => "a directory listing",
        Answer::Fail(_) => "a failure",
    };
    TransportError::ProtocolError(format!("the recording answers {operation} with {kind}"))
}

#[async_trait]
impl HttpTransport for Replay {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        match self.next(RecordedCall::Http(request)) {
            Answer::Http(response) => Ok(response),
            Answer::Fail(error) => Err(error),
            other => Err(mismatch("an HTTP request", &other)),
        }
    }
}

#[async_trait]
impl AmqpTransport for Replay {
    async fn publish(&self, message: AmqpMessage) -> Result<(), TransportError> {
        self.done(RecordedCall::Publish(message), "a publish")
    }
}

#[async_trait]
impl FileTransport for Replay {
    async fn put(&self, path: &str, contents: Vec<u8>) -> Result<(), TransportError> {
        self.done(
            RecordedCall::Put {
                path: path.to_owned(),
                contents,
            },
            "a put",
        )
    }

    async fn get(&self, path: &str) -> Result<Vec<u8>, TransportError> {
        match self.next(RecordedCall::Get { path: path.to_owned() }) {
            Answer::Contents(contents) => Ok(contents),
            Answer::Fail(error) => Err(error),
            other => Err(mismatch("a get", &other)),
        }
    }

    async fn list(&self, directory: &str) -> Result<Vec<FileEntry>, TransportError> {
        match self.next(RecordedCall::List {
            directory: directory.to_owned(),
        }) {
            Answer::Listing(entries) => Ok(entries),
            Answer::Fail(error) => Err(error),
            other => Err(mismatch("a list", &other)),
        }
    }

    async fn rename(&self, from: &str, to: &str) -> Result<(), TransportError> {
        self.done(
            RecordedCall::Rename {
                from: from.to_owned(),
                to: to.to_owned(),
            },
            "a rename",
        )
    }

    async fn remove(&self, path: &str) -> Result<(), TransportError> {
        self.done(RecordedCall::Remove { path: path.to_owned() }, "a remove")
    }
}
