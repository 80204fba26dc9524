public enum RaftCorePlaceholderRemoveMe {}
