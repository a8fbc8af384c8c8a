//! API version negotiation.
