//! The one place where a core error becomes a Ruby exception. The classes themselves are
//! defined in Ruby (`lib/wecom/errors.rb`) so they exist, documented, before this library loads.

use std::any::Any;

use magnus::{kwargs, prelude::*, value::Lazy, Error, ExceptionClass, RModule, Ruby, Value};
use wecom_callback::{CallbackError, ErrorKind as CallbackKind};
use wecom_core::{Error as CoreError, ErrorKind};

fn wecom_class(ruby: &Ruby, name: &str) -> ExceptionClass {
    let wecom: RModule = ruby
        .class_object()
        .const_get("WeCom")
        .expect("WeCom is defined before the extension loads");
    wecom
        .const_get(name)
        .expect("lib/wecom/errors.rb defines every WeCom error class")
}

static ERROR: Lazy<ExceptionClass> = Lazy::new(|ruby| wecom_class(ruby, "Error"));
static CONFIGURATION_ERROR: Lazy<ExceptionClass> =
    Lazy::new(|ruby| wecom_class(ruby, "ConfigurationError"));
static API_ERROR: Lazy<ExceptionClass> = Lazy::new(|ruby| wecom_class(ruby, "APIError"));
static AUTHENTICATION_ERROR: Lazy<ExceptionClass> =
    Lazy::new(|ruby| wecom_class(ruby, "AuthenticationError"));
static NOT_FOUND_ERROR: Lazy<ExceptionClass> = Lazy::new(|ruby| wecom_class(ruby, "NotFoundError"));
static PERMISSION_ERROR: Lazy<ExceptionClass> =
    Lazy::new(|ruby| wecom_class(ruby, "PermissionError"));
static RATE_LIMIT_ERROR: Lazy<ExceptionClass> =
    Lazy::new(|ruby| wecom_class(ruby, "RateLimitError"));
static NETWORK_ERROR: Lazy<ExceptionClass> = Lazy::new(|ruby| wecom_class(ruby, "NetworkError"));
static TIMEOUT_ERROR: Lazy<ExceptionClass> = Lazy::new(|ruby| wecom_class(ruby, "TimeoutError"));
static CERTIFICATE_ERROR: Lazy<ExceptionClass> =
    Lazy::new(|ruby| wecom_class(ruby, "CertificateError"));
static CALLBACK_PARAMETER_MISSING: Lazy<ExceptionClass> =
    Lazy::new(|ruby| wecom_class(ruby, "CallbackParameterMissing"));
static CALLBACK_SIGNATURE_INVALID: Lazy<ExceptionClass> =
    Lazy::new(|ruby| wecom_class(ruby, "CallbackSignatureInvalid"));
static CALLBACK_STALE: Lazy<ExceptionClass> = Lazy::new(|ruby| wecom_class(ruby, "CallbackStale"));
static CALLBACK_RECEIVE_ID_MISMATCH: Lazy<ExceptionClass> =
    Lazy::new(|ruby| wecom_class(ruby, "CallbackReceiveIdMismatch"));
static CALLBACK_MALFORMED: Lazy<ExceptionClass> =
    Lazy::new(|ruby| wecom_class(ruby, "CallbackMalformed"));
static CALLBACK_TOO_LARGE: Lazy<ExceptionClass> =
    Lazy::new(|ruby| wecom_class(ruby, "CallbackTooLarge"));

/// Builds the Ruby exception for a core error, with its attributes as keyword arguments.
pub fn to_ruby(ruby: &Ruby, error: CoreError) -> Error {
    let class = match error.kind() {
        ErrorKind::Argument => return Error::new(ruby.exception_arg_error(), error.to_string()),
        ErrorKind::Configuration => ruby.get_inner(&CONFIGURATION_ERROR),
        ErrorKind::Api => ruby.get_inner(&API_ERROR),
        ErrorKind::Authentication => ruby.get_inner(&AUTHENTICATION_ERROR),
        ErrorKind::NotFound => ruby.get_inner(&NOT_FOUND_ERROR),
        ErrorKind::Permission => ruby.get_inner(&PERMISSION_ERROR),
        ErrorKind::RateLimit => ruby.get_inner(&RATE_LIMIT_ERROR),
        ErrorKind::Network => ruby.get_inner(&NETWORK_ERROR),
        ErrorKind::Timeout => ruby.get_inner(&TIMEOUT_ERROR),
        ErrorKind::Certificate => ruby.get_inner(&CERTIFICATE_ERROR),
        ErrorKind::Internal => ruby.get_inner(&ERROR),
    };
    let (errmsg, status) = match &error {
        CoreError::Api { errmsg, .. } => (Some(errmsg.clone()), None),
        CoreError::Http { status, .. } => (None, Some(*status)),
        _ => (None, None),
    };
    let partial_result = match error.partial_result() {
        Some(delivered) => match crate::convert::send_result(ruby, delivered) {
            Ok(hash) => Some(hash),
            Err(e) => return e,
        },
        None => None,
    };
    let attributes = kwargs!(
        ruby,
        "errcode" => error.errcode(),
        "errmsg" => errmsg,
        "path" => error.path().map(str::to_owned),
        "status" => status,
        "retry_after" => error.retry_after().map(|d| d.as_secs_f64()),
        "retryable" => error.is_retryable(),
        "delivery_unknown" => error.delivery_unknown(),
        "partial_result" => partial_result
    );
    match class.new_instance((error.to_string(), attributes)) {
        Ok(exception) => Error::from(exception),
        Err(e) => e,
    }
}

/// The Ruby exception for a refused callback (`WeCom::CallbackError`'s subclasses) or for
/// unusable callback settings (`WeCom::ConfigurationError`).
pub fn callback_to_ruby(ruby: &Ruby, error: CallbackError) -> Error {
    let class = match error.kind {
        CallbackKind::MissingParameter => &CALLBACK_PARAMETER_MISSING,
        CallbackKind::Signature => &CALLBACK_SIGNATURE_INVALID,
        CallbackKind::Stale => &CALLBACK_STALE,
        CallbackKind::ReceiveId => &CALLBACK_RECEIVE_ID_MISMATCH,
        CallbackKind::Malformed => &CALLBACK_MALFORMED,
        CallbackKind::TooLarge => &CALLBACK_TOO_LARGE,
        CallbackKind::Config => &CONFIGURATION_ERROR,
    };
    Error::new(ruby.get_inner(class), error.message)
}

/// The Ruby exception object for a core error, to return rather than raise.
pub fn exception(ruby: &Ruby, error: CoreError) -> Value {
    let error = to_ruby(ruby, error);
    error.value().unwrap_or_else(|| ruby.qnil().as_value())
}

/// A panic caught at the boundary: a `WeCom::Error` that names it as a wecom bug.
pub fn from_panic(ruby: &Ruby, payload: Box<dyn Any + Send>) -> Error {
    let detail = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    to_ruby(
        ruby,
        CoreError::Internal(format!(
            "internal error in the wecom native extension (please report it): {detail}"
        )),
    )
}

/// Runs `f`, turning a panic into a `WeCom::Error` instead of letting it reach Ruby.
pub fn guard<T>(ruby: &Ruby, f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|payload| Err(from_panic(ruby, payload)))
}

/// `WeCom::Native.panic_for_test(where)`, in test-hooks builds only: panics on purpose, on the
/// Ruby thread ("ruby") or while the GVL is released ("blocking"), so the specs can prove a panic
/// never escapes.
#[cfg(feature = "test-hooks")]
fn panic_for_test(ruby: &Ruby, place: String) -> Result<(), Error> {
    guard(ruby, || match place.as_str() {
        "ruby" => panic!("panic_for_test on the Ruby thread"),
        _ => crate::gvl::run(ruby, |_| async {
            panic!("panic_for_test while the GVL is released")
        }),
    })
}

pub fn define(native: RModule) -> Result<(), Error> {
    #[cfg(feature = "test-hooks")]
    native.define_module_function("panic_for_test", magnus::function!(panic_for_test, 1))?;
    #[cfg(not(feature = "test-hooks"))]
    let _ = native;
    Ok(())
}
