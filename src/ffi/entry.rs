//! The one way into the library from C: [`ffi_entry!`], used by every
//! `extern "C"` call of `api.rs` and `ext.rs`.

/// The body of an `extern "C"` call: the null checks of its pointer
/// arguments, the reading of its input, the panic boundary and the trace
/// line, in that order.
///
/// ```text
/// ffi_entry! {
///     call: "name",                      // for the refusals traced
///     required: [p, q => "q is NULL"],   // optional: NULL -> ERR_SM_BAD_PARAMETER
///                                        // (with a reason: also traced as refused)
///     input: expr,                       // the call's input, read once the required
///                                        // pointers are known non-NULL
///     run: |input| expr,                 // input: &I; gives Result<T, SmError>
///     trace: |input, outcome| expr,      // input: Option<&I> (None: a required
///                                        // pointer was NULL), outcome: &Result<T, SmError>;
///                                        // gives the line's text, " == rc" is appended
/// }
/// ```
///
/// Evaluates to the C return value: `ERR_SM_OK`, or the error's code. A
/// panic while reading the input or running returns `ERR_SM_DEVERR`; one
/// while describing the call traces an empty text. No panic leaves it.
macro_rules! ffi_entry {
    (
        call: $call:literal,
        $(required: [$($req:ident $(=> $why:literal)?),+ $(,)?],)?
        input: $input:expr,
        run: |$run_in:pat_param| $body:expr,
        trace: |$trace_in:pat_param, $outcome:pat_param| $describe:expr $(,)?
    ) => {{
        $crate::ffi::trace::init_from_env();
        let mut input = None;
        #[allow(unused_labels)] // a call without required pointers never breaks
        let outcome = 'call: {
            $($(
                if $req.is_null() {
                    $( $crate::ffi::entry::refused($call, $why); )?
                    break 'call Err($crate::ffi::error::SmError::BadParameter);
                }
            )+)?
            ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| {
                let $run_in = &*input.insert($input);
                $body
            }))
            .unwrap_or(Err($crate::ffi::error::SmError::DevErr))
        };
        let rc = $crate::ffi::error::code(&outcome);
        if $crate::ffi::trace::enabled() {
            let text = ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| {
                let ($trace_in, $outcome) = (input.as_ref(), &outcome);
                $describe
            }))
            .unwrap_or_default();
            $crate::ffi::trace::line(&format!("{text} == {rc}"));
        }
        rc
    }};
}
pub(crate) use ffi_entry;

/// Traces why `call` refused its parameters, and says so.
pub(crate) fn refused(call: &str, why: &str) -> super::error::SmError {
    if super::trace::enabled() {
        super::trace::line(&format!("{call}: refused: {why}"));
    }
    super::error::SmError::BadParameter
}

#[cfg(test)]
mod tests {
    use crate::ffi::error::SmError;
    use crate::ffi::types::*;
    use std::cell::Cell;

    fn call(p: *const u8, panic: bool, ran: &Cell<bool>) -> tSM_INT {
        ffi_entry! {
            call: "test_call",
            required: [p],
            input: 7,
            run: |&seven| {
                ran.set(true);
                if panic {
                    panic!("a bug");
                }
                if seven == 7 { Ok(()) } else { Err(SmError::NoAction) }
            },
            trace: |input, outcome| format!("test_call({input:?}) {outcome:?}"),
        }
    }

    #[test]
    fn null_is_refused_unrun_and_a_panic_is_deverr() {
        let ran = Cell::new(false);
        assert_eq!(call(std::ptr::null(), false, &ran), ERR_SM_BAD_PARAMETER);
        assert!(!ran.get(), "the body runs only with the required pointers non-NULL");
        let byte = 0u8;
        assert_eq!(call(&byte, false, &ran), ERR_SM_OK);
        assert!(ran.get());
        assert_eq!(call(&byte, true, &ran), ERR_SM_DEVERR);
    }
}
