//! Error collection: every check reports into one [`Errors`], so that the user sees all
//! of their mistakes in one compile, and a failed expansion still emits tokens
//! ([`Failed`]) next to its errors.

use proc_macro2::{Punct, Spacing, Span, TokenStream};
use quote::ToTokens;

/// The errors found so far, combined into one `syn::Error`.
#[derive(Default)]
pub(crate) struct Errors {
    combined: Option<syn::Error>,
}

impl Errors {
    /// No error yet.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Records `error` after those already found.
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.combined {
            Some(combined) => combined.combine(error),
            None => self.combined = Some(error),
        }
    }

    /// Records an error spanning the tokens of `at`.
    pub(crate) fn at(&mut self, at: impl ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(at, message));
    }

    /// Records an error spanning from the first token of `first` to the last of `last`.
    pub(crate) fn between(
        &mut self,
        first: impl ToTokens,
        last: impl ToTokens,
        message: impl std::fmt::Display,
    ) {
        let mut tokens = first.into_token_stream();
        last.to_tokens(&mut tokens);
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// Records an error spanning from `start` to `end`, for places that are not a
    /// token of their own (the parentheses of an argument list, for instance).
    pub(crate) fn range(&mut self, start: Span, end: Span, message: impl std::fmt::Display) {
        let mut first = Punct::new('.', Spacing::Alone);
        first.set_span(start);
        let mut last = Punct::new('.', Spacing::Alone);
        last.set_span(end);
        self.between(first, last, message);
    }

    /// Records the errors of `other` after those already found.
    pub(crate) fn append(&mut self, other: Errors) {
        if let Some(error) = other.combined {
            self.push(error);
        }
    }

    /// Whether nothing was recorded.
    pub(crate) fn is_empty(&self) -> bool {
        self.combined.is_none()
    }

    /// `Ok(expansion)` when nothing was recorded, otherwise the errors with `expansion`
    /// as the tokens to emit beside them.
    pub(crate) fn finish(self, expansion: TokenStream) -> Result<TokenStream, Failed> {
        match self.combined {
            None => Ok(expansion),
            Some(errors) => Err(Failed {
                errors,
                fallback: expansion,
            }),
        }
    }

    /// The combined errors, if any.
    #[cfg(test)]
    pub(crate) fn into_error(self) -> Option<syn::Error> {
        self.combined
    }
}

/// A macro that found errors: the errors, and what to emit beside them (the user's item,
/// and whatever part of the expansion does not depend on the mistake), so that the
/// errors are the only ones the user sees.
pub(crate) struct Failed {
    errors: syn::Error,
    fallback: TokenStream,
}

impl Failed {
    /// The fallback tokens followed by one `compile_error!` per error.
    pub(crate) fn into_compile_error(self) -> TokenStream {
        let mut tokens = self.fallback;
        tokens.extend(self.errors.into_compile_error());
        tokens
    }

    /// The errors, without the fallback.
    #[cfg(test)]
    pub(crate) fn errors(&self) -> &syn::Error {
        &self.errors
    }
}

/// The messages of an error, in order, for tests.
#[cfg(test)]
pub(crate) fn messages(error: &syn::Error) -> Vec<String> {
    error.clone().into_iter().map(|e| e.to_string()).collect()
}
