//! ratufa gateway.
