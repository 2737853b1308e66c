//! CTAP1/U2F (to do)
