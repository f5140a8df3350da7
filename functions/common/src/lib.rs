//! AWS glue shared by the functions (in progress).
#![forbid(unsafe_code)]
