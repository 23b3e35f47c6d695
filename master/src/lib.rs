//! ratufa master.
