//! Inputs: what turns a publisher into a stream on the engine. RTMP (fed
//! into the engine's rings from the control side), FTL control (the media
//! itself goes to the engine's sockets), WHIP, and the page that publishes
//! a browser's camera.

pub mod ftl;
pub mod publish_page;
pub mod rtmp;
pub mod whip;
