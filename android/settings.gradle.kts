// The paycode Android library. Build on a machine with the Android SDK + NDK:
//   android/scripts/build-aar.sh   (Rust .so per ABI, Kotlin bindings, then `gradle :paycode:assembleRelease`)
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}
dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}
rootProject.name = "paycode-android"
include(":paycode")
