public enum ChaosAnnotationsPlaceholder {}
