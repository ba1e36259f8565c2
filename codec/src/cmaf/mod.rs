//! CMAF (fragmented MP4): initialization segments and fragments.
