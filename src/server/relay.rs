//! The relay (`vexil relay`): one upstream subscription per environment,
//! served again to any number of SDKs and relays.
