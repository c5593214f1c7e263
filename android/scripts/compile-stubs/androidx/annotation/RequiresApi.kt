// Compile-only stand-in for androidx.annotation.RequiresApi (Google Maven is not reachable on
// our CI machines). The uniffi-generated Android bindings import it; real builds use
// androidx.annotation:annotation (see android/paycode/build.gradle.kts). Never packaged.
package androidx.annotation

@Retention(AnnotationRetention.BINARY)
@Target(
    AnnotationTarget.ANNOTATION_CLASS, AnnotationTarget.CLASS, AnnotationTarget.FUNCTION,
    AnnotationTarget.PROPERTY_GETTER, AnnotationTarget.PROPERTY_SETTER, AnnotationTarget.CONSTRUCTOR,
    AnnotationTarget.FIELD, AnnotationTarget.FILE,
)
annotation class RequiresApi(val value: Int = 1, val api: Int = 1)
