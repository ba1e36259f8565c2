//! CMAF (fragmented MP4) boxes: the initialization segment and fragments.
