//! plantgw
